"""Render a scene to video: a camera walk, ray casting against boxes (numpy only), H.264 via PyAV.

Each object is drawn as a few flat-shaded boxes in its category colour (a chair has legs, a seat and a
backrest; a lamp a pole and a shade; ...), with dark outlines on box edges, a tiled floor and shaded
walls. Hidden surfaces are resolved per pixel (nearest hit wins), so the per-frame object-id buffer
gives each object's exact visible pixel count, which the question generator uses for appearance
order and "was it seen at all".
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from spacer_core.sim.scene import CAMERA_ORBIT, EYE_HEIGHT

HFOV_DEG = 80.0
PITCH_DEG = -20.0
_LIGHT = np.array([0.35, 0.55, 0.75]) / np.linalg.norm([0.35, 0.55, 0.75])
_EDGE_PX = 1.2  # outline width in pixels
_AMBIENT = 0.7
_TILE = 0.5  # floor tile side (m)
_WALL, _FLOOR, _CEILING = (200, 196, 186), ((172, 142, 108), (156, 127, 95)), (236, 234, 228)
_BASEBOARD = (120, 110, 95)
# Walls x=0, x=w, y=0, y=l of a room drawn with tinted walls (`spacer data synth --tinted-walls`):
# light tints no object category uses, so every frame shows which way the camera faces.
TINTED_WALLS = ((214, 178, 178), (172, 190, 222), (178, 212, 172), (226, 214, 160))
_DARK = (55, 55, 60)


@dataclass(frozen=True)
class Part:
    """One oriented box of an object: world centre, half sizes in the object frame, yaw, colour."""

    center: np.ndarray
    half: np.ndarray
    yaw: float
    color: np.ndarray
    index: int  # position of the owning object in scene["objects"]

    @cached_property
    def cos_sin(self) -> tuple[float, float]:
        return math.cos(self.yaw), math.sin(self.yaw)

    @cached_property
    def rot(self) -> np.ndarray:
        c, s = self.cos_sin
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])

    @cached_property
    def half_f(self) -> list[float]:
        return [float(h) for h in self.half]

    @cached_property
    def corners(self) -> np.ndarray:
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        return self.center + (signs * self.half) @ self.rot.T

    @cached_property
    def face_light(self) -> np.ndarray:
        """Brightness of the six faces (−x, +x, −y, +y, −z, +z: index 2k + positive side)."""
        return _brightness(np.stack([sgn * self.rot[:, k] for k in range(3) for sgn in (-1.0, 1.0)]))


def _shade(color: tuple[int, ...] | list[int], f: float) -> tuple[int, int, int]:
    return tuple(int(min(255, c * f)) for c in color)  # type: ignore[return-value]


# Part templates: box(x0, x1, y0, y1, z0, z1, rgb) in the object frame with x, y in [-w/2, w/2] and
# [-d/2, d/2] (front is +y) and z in [0, h] from the floor of the object.
_Box = tuple[float, float, float, float, float, float, tuple[int, int, int]]


def _chair(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    seat, t, legc = min(0.47, 0.55 * h), 0.04, _shade(c, 0.55)
    xs = ((-w / 2, -w / 2 + t), (w / 2 - t, w / 2))
    ys = ((-d / 2, -d / 2 + t), (d / 2 - t, d / 2))
    out = [(*x, *y, 0, seat - 0.05, legc) for x in xs for y in ys]
    return out + [
        (-w / 2, w / 2, -d / 2, d / 2, seat - 0.05, seat, c),
        (-w / 2, w / 2, -d / 2, -d / 2 + 0.06, seat, h, c),
    ]


def _table(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    t, i, legc = 0.07, 0.03, _shade(c, 0.6)
    xs = ((-w / 2 + i, -w / 2 + i + t), (w / 2 - i - t, w / 2 - i))
    ys = ((-d / 2 + i, -d / 2 + i + t), (d / 2 - i - t, d / 2 - i))
    return [(*x, *y, 0, h - 0.05, legc) for x in xs for y in ys] + [
        (-w / 2, w / 2, -d / 2, d / 2, h - 0.05, h, c)
    ]


def _sofa(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    arm = 0.15
    return [
        (-w / 2 + arm, w / 2 - arm, -d / 2, d / 2, 0, 0.45 * h, _shade(c, 1.2)),
        (-w / 2, w / 2, -d / 2, -d / 2 + 0.22 * d, 0, h, c),
        (-w / 2, -w / 2 + arm, -d / 2, d / 2, 0, 0.65 * h, c),
        (w / 2 - arm, w / 2, -d / 2, d / 2, 0, 0.65 * h, c),
    ]


def _bed(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-w / 2, w / 2, -d / 2 + 0.06, d / 2, 0, 0.5, c),
        (-w / 2, w / 2, -d / 2, -d / 2 + 0.06, 0, h, (105, 70, 40)),
        (-0.4 * w, 0.4 * w, -d / 2 + 0.1, -d / 2 + 0.45, 0.5, 0.6, (242, 242, 236)),
    ]


def _tv(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-w / 2, w / 2, -d / 2, d / 2 - 0.015, 0, h, c),
        (-0.46 * w, 0.46 * w, d / 2 - 0.015, d / 2, 0.07 * h, 0.93 * h, (45, 75, 140)),
    ]


def _lamp(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-0.3 * w, 0.3 * w, -0.3 * d, 0.3 * d, 0, 0.04, _DARK),
        (-0.025, 0.025, -0.025, 0.025, 0.04, 0.75 * h, _DARK),
        (-w / 2, w / 2, -d / 2, d / 2, 0.72 * h, h, c),
    ]


def _plant(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-0.3 * w, 0.3 * w, -0.3 * d, 0.3 * d, 0, 0.3 * h, (175, 90, 50)),
        (-w / 2, w / 2, -d / 2, d / 2, 0.3 * h, 0.8 * h, c),
        (-0.3 * w, 0.3 * w, -0.3 * d, 0.3 * d, 0.8 * h, h, _shade(c, 1.3)),
    ]


def _front_panel(
    w: float, d: float, h: float, c: tuple, handles: list[tuple[float, float, float, float]]
) -> list[_Box]:
    """A body set back 2 cm from the front plus dark strips/handles on that front layer."""
    f = d / 2 - 0.02
    return [(-w / 2, w / 2, -d / 2, f, 0, h, c)] + [
        (x0, x1, f, d / 2, z0, z1, _DARK) for x0, x1, z0, z1 in handles
    ]


def _cabinet(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return _front_panel(
        w,
        d,
        h,
        c,
        [
            (-0.01, 0.01, 0.04 * h, 0.96 * h),
            (-0.09, -0.05, 0.45 * h, 0.6 * h),
            (0.05, 0.09, 0.45 * h, 0.6 * h),
        ],
    )


def _refrigerator(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return _front_panel(
        w,
        d,
        h,
        c,
        [
            (-w / 2, w / 2, 0.62 * h, 0.635 * h),
            (0.32 * w, 0.38 * w, 0.68 * h, 0.9 * h),
            (0.32 * w, 0.38 * w, 0.3 * h, 0.55 * h),
        ],
    )


def _sink(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-w / 2, w / 2, -d / 2, d / 2 - 0.02, 0, h - 0.08, (232, 232, 228)),
        (-0.01, 0.01, d / 2 - 0.02, d / 2, 0.05, h - 0.12, _DARK),
        (-w / 2, w / 2, -d / 2, d / 2, h - 0.08, h, c),
    ]


def _toilet(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-0.4 * w, 0.4 * w, -d / 2 + 0.22 * d, d / 2, 0, 0.5 * h, c),
        (-w / 2, w / 2, -d / 2, -d / 2 + 0.22 * d, 0, h, _shade(c, 0.93)),
        (-0.42 * w, 0.42 * w, -d / 2 + 0.22 * d, d / 2, 0.5 * h, 0.55 * h, _shade(c, 0.8)),
    ]


def _door(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-w / 2, w / 2, -d / 2, d / 2 - 0.02, 0, h, c),
        (0.33 * w, 0.42 * w, d / 2 - 0.02, d / 2, 0.45 * h, 0.5 * h, (230, 190, 60)),
    ]


def _window(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    white, g, m = (246, 246, 246), d / 2 - 0.02, d / 2 - 0.01
    return [
        (-w / 2, w / 2, -d / 2, g, 0, h, white),
        (-0.45 * w, 0.45 * w, g, m, 0.07 * h, 0.93 * h, c),
        (-0.02, 0.02, m, d / 2, 0.07 * h, 0.93 * h, white),
        (-0.45 * w, 0.45 * w, m, d / 2, 0.48 * h, 0.52 * h, white),
    ]


def _stool(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-0.35 * w, 0.35 * w, -0.35 * d, 0.35 * d, 0, 0.04, _DARK),
        (-0.04, 0.04, -0.04, 0.04, 0.04, h - 0.06, _DARK),
        (-w / 2, w / 2, -d / 2, d / 2, h - 0.06, h, c),
    ]


def _trash_can(w: float, d: float, h: float, c: tuple) -> list[_Box]:
    return [
        (-0.45 * w, 0.45 * w, -0.45 * d, 0.45 * d, 0, 0.88 * h, c),
        (-w / 2, w / 2, -d / 2, d / 2, 0.88 * h, h, _shade(c, 1.6)),
    ]


SHAPES: dict[str, Callable[[float, float, float, tuple], list[_Box]]] = {
    "chair": _chair, "table": _table, "sofa": _sofa, "bed": _bed, "tv": _tv, "lamp": _lamp,
    "plant": _plant, "cabinet": _cabinet, "refrigerator": _refrigerator, "sink": _sink,
    "toilet": _toilet, "door": _door, "window": _window, "stool": _stool, "trash can": _trash_can,
}  # fmt: skip


def _fallback_color(category: str) -> tuple[int, int, int]:
    """A stable colour for categories outside the vocabulary (e.g. from real annotations)."""
    h = zlib.crc32(category.encode())
    return (60 + h % 180, 60 + (h >> 8) % 180, 60 + (h >> 16) % 180)


def object_parts(obj: dict[str, Any], index: int) -> list[Part]:
    """The boxes that draw one object, in world coordinates."""
    w, d, h = obj["size"]
    color = tuple(obj.get("color") or _fallback_color(obj["category"]))
    shape = SHAPES.get(obj["category"])
    boxes = shape(w, d, h, color) if shape else [(-w / 2, w / 2, -d / 2, d / 2, 0, h, color)]
    yaw = float(obj["yaw"])
    rot = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    cx, cy, cz = obj["center"]
    parts = []
    for x0, x1, y0, y1, z0, z1, rgb in boxes:
        local = rot @ np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        center = np.array([cx + local[0], cy + local[1], cz - h / 2 + (z0 + z1) / 2])
        half = np.array([(x1 - x0) / 2, (y1 - y0) / 2, (z1 - z0) / 2])
        parts.append(Part(center, half, yaw, np.array(rgb, float), index))
    return parts


def camera_walk(scene: dict[str, Any], frames: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Camera poses: a loop on a small ellipse around the room centre, looking across the centre,
    so that over one loop every wall (and what stands by it) is seen from the other side."""
    w, length, _ = scene["room"]["size"]
    cx, cy = w / 2 + rng.uniform(-0.03, 0.03) * w, length / 2 + rng.uniform(-0.03, 0.03) * length
    start, turn, look = rng.uniform(0, 2 * math.pi), rng.choice([-1.0, 1.0]), rng.uniform(-0.25, 0.25)
    poses = []
    for k in range(frames):
        phi = start + turn * 2 * math.pi * k / frames
        pos = [cx + CAMERA_ORBIT * w * math.cos(phi), cy + CAMERA_ORBIT * length * math.sin(phi), EYE_HEIGHT]
        yaw = (phi + math.pi + look) % (2 * math.pi)
        poses.append(
            {
                "position": [round(v, 4) for v in pos],
                "yaw": round(yaw, 5),
                "pitch": round(math.radians(PITCH_DEG), 5),
            }
        )
    return poses


def _basis(yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fwd = np.array([math.cos(yaw) * math.cos(pitch), math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    return fwd, right, np.cross(right, fwd)


def _edge_mask(p: np.ndarray, half: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Pixels within ``width`` of a box edge: two of the three coordinates at their face limits."""
    near = np.abs(p) >= half - np.minimum(width[..., None], 0.35 * half)
    return near.sum(-1) >= 2


class Renderer:
    """Renders frames of one scene at a fixed size and field of view."""

    def __init__(self, scene: dict[str, Any], size: int = 256, hfov_deg: float = HFOV_DEG):
        self.size = size
        self.focal = (size / 2) / math.tan(math.radians(hfov_deg) / 2)
        px = (np.arange(size) + 0.5 - size / 2) / self.focal
        self.u, self.v = np.meshgrid(px, -px)  # u to the right, v up
        self.room = np.array(scene["room"]["size"], float)
        self.n_objects = len(scene["objects"])
        self.parts = [p for i, obj in enumerate(scene["objects"]) for p in object_parts(obj, i)]
        room_normals = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
        light = _brightness(room_normals)  # surfaces 0-5: x=0, x=w, y=0, y=l walls, floor, ceiling
        walls = [tuple(c) for c in scene["room"].get("walls", [_WALL] * 4)]
        colors = walls + [_FLOOR[0], _CEILING, _FLOOR[1], _BASEBOARD]
        shading = list(light) + [light[4], light[0]]  # 6: second floor tile, 7: baseboard
        self.room_palette = np.array(
            [np.array(c) * f for c, f in zip(colors, shading, strict=True)], np.float32
        )

    def _room(self, origin: np.ndarray, dirs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Depth and colour of the room's inside surfaces (the camera is inside the room box)."""
        o = [float(v) for v in origin]  # Python floats keep the arithmetic in float32
        room = [float(v) for v in self.room]
        with np.errstate(divide="ignore", invalid="ignore"):
            t_axes = []
            for k in range(3):
                t_k = np.where(dirs[k] > 0, np.float32(room[k] - o[k]), np.float32(-o[k])) / dirs[k]
                t_axes.append(np.where(t_k > 0, t_k, np.float32(np.inf)))
        t = np.minimum(np.minimum(t_axes[0], t_axes[1]), t_axes[2])
        # Surfaces: 0/1 walls x=0/x=w, 2/3 walls y=0/y=l, 4 floor, 5 ceiling (2k + positive direction).
        surface = np.where(
            t == t_axes[0], dirs[0] > 0, np.where(t == t_axes[1], 2 + (dirs[1] > 0), 4 + (dirs[2] > 0))
        ).astype(np.int8)
        p = [o[k] + t * dirs[k] for k in range(3)]
        floor = surface == 4
        tile = (np.floor(p[0] / _TILE) + np.floor(p[1] / _TILE)) % 2 > 0
        surface[floor & tile] = 6  # the darker floor tiles
        surface[(surface < 4) & (p[2] < 0.1)] = 7  # baseboard
        rgb = self.room_palette[surface]
        width = np.float32(_EDGE_PX / self.focal) * t
        # Room corners: two coordinates at the room's limits; floor tile seams.
        near = sum((np.abs(p[k] - room[k] / 2) >= room[k] / 2 - width).view(np.int8) for k in range(3))
        seam = np.minimum(*(np.abs(p[k] / _TILE - np.round(p[k] / _TILE)) for k in range(2))) * _TILE
        rgb[(near >= 2) | (floor & (seam < 0.6 * width))] *= 0.6
        return t, rgb

    def render(self, pose: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """One frame (H×W×3 uint8) and its object-id buffer (H×W int, -1 = room)."""
        origin = np.array(pose["position"], float)
        fwd, right, up = _basis(pose["yaw"], pose["pitch"])
        # Ray directions with forward component 1, so a ray parameter t is the depth.
        dirs = [(fwd[k] + self.u * right[k] + self.v * up[k]).astype(np.float32) for k in range(3)]
        depth, rgb = self._room(origin, dirs)
        ids = np.full(depth.shape, -1, np.int32)
        s = self.size
        for part in self.parts:
            world = part.corners - origin
            z = world @ fwd
            if (z <= 0.01).all():
                continue
            if (z > 0.01).all():  # screen bounding box of the 8 corners
                cols = (world @ right) / z * self.focal + s / 2
                rows = s / 2 - (world @ up) / z * self.focal
                i0, i1 = max(int(rows.min()) - 1, 0), min(int(rows.max()) + 2, s)
                j0, j1 = max(int(cols.min()) - 1, 0), min(int(cols.max()) + 2, s)
                if i0 >= i1 or j0 >= j1:
                    continue
            else:  # straddles the camera plane: test every pixel
                i0, i1, j0, j1 = 0, s, 0, s
            dx, dy, dz = (d[i0:i1, j0:j1] for d in dirs)
            c, si = part.cos_sin
            d_local = (c * dx + si * dy, c * dy - si * dx, dz)  # rays in the box frame
            # Python floats keep the arithmetic in float32 (numpy scalars would promote to float64).
            o_local = [float(v) for v in (origin - part.center) @ part.rot]
            # Slab test, one axis at a time.
            with np.errstate(divide="ignore", invalid="ignore"):
                slabs = []
                for k in range(3):
                    inv = 1.0 / d_local[k]
                    a, b = (-part.half_f[k] - o_local[k]) * inv, (part.half_f[k] - o_local[k]) * inv
                    slabs.append((np.minimum(a, b), np.maximum(a, b)))
            t_near = np.maximum(np.maximum(slabs[0][0], slabs[1][0]), slabs[2][0])
            t_far = np.minimum(np.minimum(slabs[0][1], slabs[1][1]), slabs[2][1])
            win = depth[i0:i1, j0:j1]
            hit = (t_near <= t_far) & (t_near > 1e-3) & (t_near < win)
            if not hit.any():
                continue
            th = t_near[hit]
            near_k = np.stack([slabs[k][0][hit] for k in range(3)], -1)
            dl = np.stack([d_local[k][hit] for k in range(3)], -1)
            axis = near_k.argmax(-1)
            rows_ = np.arange(len(axis))
            face = 2 * axis + (dl[rows_, axis] < 0)  # which of the 6 faces the ray enters
            p = o_local + th[:, None] * dl
            edge = _edge_mask(p, part.half, _EDGE_PX * th / self.focal)
            win[hit] = th
            rgb[i0:i1, j0:j1][hit] = part.color * (part.face_light[face] * np.where(edge, 0.55, 1.0))[:, None]
            ids[i0:i1, j0:j1][hit] = part.index
        fog = 1.0 / (1.0 + 0.03 * depth)
        frame = np.clip(rgb * fog[..., None], 0, 255).astype(np.uint8)
        return frame, ids


def _brightness(normals: np.ndarray) -> np.ndarray:
    return _AMBIENT + (1 - _AMBIENT) * (normals @ _LIGHT)


def render_frames(
    scene: dict[str, Any], poses: list[dict[str, Any]], size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """All frames (F×H×W×3 uint8) and each object's visible pixel count per frame (objects × F)."""
    renderer = Renderer(scene, size)
    frames = np.empty((len(poses), size, size, 3), np.uint8)
    visible = np.zeros((renderer.n_objects, len(poses)), np.int64)
    for k, pose in enumerate(poses):
        frames[k], ids = renderer.render(pose)
        visible[:, k] = np.bincount(ids[ids >= 0], minlength=renderer.n_objects)
    return frames, visible


def write_mp4(frames: np.ndarray, path: str | Path, fps: int) -> None:
    """H.264 (libx264, yuv420p) at a fixed frame rate; sides must be even."""
    import av

    height, width = frames.shape[1:3]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        stream.thread_count = 1  # pool workers already use every core
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def check_video_params(frames: int, fps: int, size: int) -> None:
    """ValueError unless the video settings can be rendered and encoded (yuv420p needs even sides)."""
    if size % 2 or size < 16:
        raise ValueError(f"video size must be an even number of pixels >= 16, got {size}")
    if frames < 1 or fps < 1:
        raise ValueError(f"frames and fps must be positive, got frames={frames}, fps={fps}")


def render_scene(
    scene: dict[str, Any],
    video_path: str | Path,
    rel_path: str,
    frames: int = 16,
    fps: int = 2,
    size: int = 256,
    seed: int | list[int] = 0,
) -> np.ndarray:
    """Render ``scene`` to ``video_path`` and record the walk and visibility in ``scene["video"]``
    (``rel_path`` is the video path stored there, relative to the dataset root). Returns the frames."""
    check_video_params(frames, fps, size)
    poses = camera_walk(scene, frames, np.random.default_rng(seed))
    images, visible = render_frames(scene, poses, size)
    write_mp4(images, video_path, fps)
    scene["video"] = {
        "path": rel_path,
        "fps": fps,
        "num_frames": frames,
        "size": [size, size],
        "hfov_deg": HFOV_DEG,
        "camera": poses,
        "visible_pixels": {str(obj["id"]): visible[i].tolist() for i, obj in enumerate(scene["objects"])},
    }
    return images


def contact_sheet(frames: np.ndarray, cols: int = 4, fps: float | None = None):
    """The frames tiled into one PIL image (row-major), labelled with their time when ``fps`` is given."""
    from PIL import Image, ImageDraw

    n, h, w = frames.shape[:3]
    rows = -(-n // cols)
    sheet = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for k, frame in enumerate(frames):
        x, y = (k % cols) * w, (k // cols) * h
        sheet.paste(Image.fromarray(frame), (x, y))
        if fps:
            label = f"{k / fps:.1f} s"
            draw.rectangle((x, y, x + 7 * len(label) + 6, y + 14), fill=(0, 0, 0))
            draw.text((x + 3, y + 2), label, fill=(255, 255, 255))
    return sheet
