"""Renderer: projection and handedness, occlusion, visibility counts, real H.264 files."""

from __future__ import annotations

import math

import decord
import numpy as np
import pytest

from spacer_core.cli import main
from spacer_core.sim.render import HFOV_DEG, Renderer, render_scene
from spacer_core.sim.scene import generate_scene

SIZE = 128
RED, GREEN, BLUE, GREY = [220, 30, 30], [30, 200, 30], [30, 30, 220], [128, 128, 128]


def box(i, center, size, color, category="box"):
    return {"id": i, "category": category, "center": center, "size": size, "yaw": 0.0, "color": color}


@pytest.fixture(scope="module")
def test_room():
    """Camera at (1, 3, 1.5) looking along +x: a panel straight ahead hides a box behind it; one box
    stands to the left (+y), one to the right (-y)."""
    scene = {
        "scene_id": "t",
        "room": {"size": [6.0, 6.0, 3.0], "bounds": [0.0, 0.0, 6.0, 6.0]},
        "objects": [
            box(0, [3.0, 3.0, 1.3], [0.2, 2.0, 2.6], GREY),  # panel
            box(1, [4.5, 3.0, 1.0], [0.4, 0.4, 0.4], GREEN),  # behind the panel
            box(2, [4.0, 5.0, 0.5], [0.4, 0.4, 0.4], RED),  # left
            box(3, [4.0, 1.0, 0.5], [0.4, 0.4, 0.4], BLUE),  # right
        ],
    }
    pose = {"position": [1.0, 3.0, 1.5], "yaw": 0.0, "pitch": 0.0}
    frame, ids = Renderer(scene, SIZE).render(pose)
    return scene, pose, frame, ids


def projected_column(center, pose):
    """Pinhole projection for a camera looking along +x with zero pitch: +y is to the left."""
    focal = (SIZE / 2) / math.tan(math.radians(HFOV_DEG) / 2)
    dx, dy = center[0] - pose["position"][0], center[1] - pose["position"][1]
    return SIZE / 2 - focal * dy / dx


def test_left_right_and_projection(test_room):
    scene, pose, _, ids = test_room
    for obj in scene["objects"][2:]:
        rows, cols = np.nonzero(ids == obj["id"])
        assert len(cols) > 20
        # the box spans a few pixels; its pixel centroid sits near the projected centre
        assert abs(cols.mean() - projected_column(obj["center"], pose)) < 4
    left = np.nonzero(ids == 2)[1].mean()
    right = np.nonzero(ids == 3)[1].mean()
    assert left < SIZE / 2 < right  # +y (counter-clockwise of the view direction) is on the left


def test_occlusion_and_colours(test_room):
    scene, _, frame, ids = test_room
    assert (ids == 1).sum() == 0  # fully behind the panel
    assert (ids == 0).sum() > 0.1 * SIZE * SIZE
    for obj in scene["objects"][2:]:
        mean = frame[ids == obj["id"]].reshape(-1, 3).mean(0)
        assert np.argmax(mean) == np.argmax(obj["color"])  # red looks red, blue looks blue


def test_render_scene_writes_h264_with_visibility(tmp_path):
    scene = generate_scene([5, 0, 0], "scene_0000")
    path = tmp_path / "scene_0000.mp4"
    frames = render_scene(scene, path, "videos/scene_0000.mp4", frames=6, fps=2, size=96, seed=[5, 0, 1])
    assert frames.shape == (6, 96, 96, 3)
    video = scene["video"]
    assert video["path"] == "videos/scene_0000.mp4" and video["num_frames"] == 6 and len(video["camera"]) == 6
    pixels = np.array([video["visible_pixels"][str(o["id"])] for o in scene["objects"]])
    assert pixels.shape == (len(scene["objects"]), 6)
    assert (pixels.sum(0) <= 96 * 96).all() and (pixels.max(1) > 0).mean() > 0.7

    reader = decord.VideoReader(str(path))
    assert len(reader) == 6
    assert abs(reader.get_avg_fps() - 2) < 1e-6
    decoded = reader.get_batch(list(range(6))).asnumpy()
    assert decoded.shape == (6, 96, 96, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 8  # H.264 keeps the picture
    assert np.abs(decoded[0].astype(int) - decoded[3].astype(int)).mean() > 10  # the camera moves


def test_bad_video_parameters(tmp_path, capsys):
    scene = generate_scene([5, 0, 0])
    with pytest.raises(ValueError, match="even"):
        render_scene(scene, tmp_path / "x.mp4", "x.mp4", size=95)
    with pytest.raises(ValueError, match="positive"):
        render_scene(scene, tmp_path / "x.mp4", "x.mp4", frames=0)
    assert main(["data", "synth", "--scenes", "2", "--out", str(tmp_path / "d"), "--size", "33"]) == 2
    assert "even number of pixels" in capsys.readouterr().out
    assert not (tmp_path / "d").exists()  # refused before writing anything


def test_tinted_walls_show_which_way_the_camera_faces(test_room):
    """The same room with each wall tinted (`synth --tinted-walls`): objects and what hides what are
    unchanged, only the room's pixels change, and the wall ahead takes its own tint."""
    from spacer_core.sim.render import TINTED_WALLS

    scene, pose, frame, ids = test_room
    tinted = {**scene, "room": {**scene["room"], "walls": [list(c) for c in TINTED_WALLS]}}
    renderer = Renderer(tinted, SIZE)
    tinted_frame, tinted_ids = renderer.render(pose)
    assert np.array_equal(ids, tinted_ids)
    changed = np.any(frame != tinted_frame, axis=-1)
    assert changed[ids == -1].mean() > 0.3 and not changed[ids >= 0].any()

    empty = Renderer({**tinted, "objects": []}, SIZE)

    def centre_colour(yaw):  # a patch of the wall straight ahead, just above the horizon
        image, _ = empty.render({**pose, "yaw": yaw})
        return image[3 * SIZE // 8: SIZE // 2, SIZE // 2 - 4: SIZE // 2 + 4].reshape(-1, 3).mean(0)

    ahead = {0.0: 1, math.pi / 2: 3, math.pi: 0, -math.pi / 2: 2}  # yaw → the wall x=w, y=l, x=0, y=0
    for yaw, wall in ahead.items():
        hue = centre_colour(yaw) / np.array(TINTED_WALLS[wall])  # shading scales all channels alike
        assert np.ptp(hue) < 0.05, (yaw, hue)
