"""Seeded procedural rooms: a box room with furniture from an indoor vocabulary.

Scene schema (JSON, metres, z up, floor at z = 0, the room spans ``[0, w] × [0, l] × [0, h]``)::

    {"scene_id": "scene_0003",
     "room": {"size": [w, l, h], "bounds": [xmin, ymin, xmax, ymax]},  # optional "walls": 4 colours
                                                                      # (x=0, x=w, y=0, y=l; render.py)
     "objects": [{"id": 0, "category": "chair", "center": [x, y, z], "size": [sx, sy, sz],
                  "yaw": 1.5707963267948966, "color": [r, g, b]}, ...]}

``size`` is the box extent in the object's own frame (x: width, y: depth, z: height); ``yaw`` is the
counter-clockwise rotation (radians) of that frame about +z. An object's front faces its local +y.
This is the shape a ScanNet/ARKitScenes box annotation converts to, so the question generator
works on real annotations too. The renderer adds a ``video`` key (camera path, visibility).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FLOOR, WALL, FREE = "floor_against_wall", "wall_mounted", "free"


@dataclass(frozen=True)
class Category:
    """How a category looks and where it goes. Sizes are (min, max) ranges in metres."""

    name: str
    color: tuple[int, int, int]
    width: tuple[float, float]
    depth: tuple[float, float]
    height: tuple[float, float]
    placement: str
    max_count: int
    elevation: tuple[float, float] = (0.0, 0.0)  # bottom above the floor (wall-mounted objects)


VOCABULARY: dict[str, Category] = {
    c.name: c
    for c in [
        Category("chair", (205, 45, 40), (0.42, 0.52), (0.45, 0.55), (0.82, 1.0), FREE, 6),
        Category("table", (150, 95, 50), (1.0, 1.8), (0.7, 1.0), (0.72, 0.78), FREE, 2),
        Category("sofa", (115, 70, 175), (1.6, 2.3), (0.8, 0.95), (0.75, 0.9), FLOOR, 1),
        Category("bed", (65, 115, 205), (1.0, 1.7), (1.95, 2.15), (0.9, 1.1), FLOOR, 1),
        Category("tv", (30, 30, 35), (0.9, 1.4), (0.06, 0.08), (0.55, 0.8), WALL, 1, (0.8, 1.1)),
        Category("lamp", (245, 205, 40), (0.3, 0.45), (0.3, 0.45), (1.4, 1.75), FREE, 2),
        Category("plant", (45, 150, 60), (0.35, 0.6), (0.35, 0.6), (0.6, 1.2), FREE, 3),
        Category("cabinet", (230, 140, 45), (0.6, 1.3), (0.4, 0.6), (0.8, 1.9), FLOOR, 3),
        Category("refrigerator", (195, 200, 210), (0.6, 0.85), (0.6, 0.75), (1.6, 1.9), FLOOR, 1),
        Category("sink", (60, 190, 205), (0.5, 0.9), (0.45, 0.6), (0.85, 0.95), FLOOR, 1),
        Category("toilet", (245, 245, 238), (0.38, 0.45), (0.65, 0.75), (0.75, 0.85), FLOOR, 1),
        Category("door", (115, 70, 35), (0.8, 1.0), (0.05, 0.07), (2.0, 2.1), WALL, 2),
        Category("window", (160, 215, 245), (0.8, 1.5), (0.05, 0.07), (0.9, 1.3), WALL, 3, (0.8, 1.0)),
        Category("stool", (230, 95, 160), (0.35, 0.45), (0.35, 0.45), (0.45, 0.75), FREE, 3),
        Category("trash can", (85, 90, 98), (0.25, 0.4), (0.25, 0.4), (0.35, 0.6), FREE, 2),
    ]
}

ROOM_SIDE = (4.0, 7.5)  # metres, each horizontal side
ROOM_HEIGHT = (2.6, 3.1)
EYE_HEIGHT = 1.5  # camera height above the floor (m)
# The camera walks an ellipse around the room centre with these semi-axes (fractions of the sides);
# no object may stand within CAMERA_CLEARANCE of that walk (the camera never enters or skims an
# object, and nothing fills the foreground of every frame).
CAMERA_ORBIT = 0.12
CAMERA_CLEARANCE = 0.35
GAP = 0.08  # minimum free space between object footprints
DOOR_SWING = 0.8  # floor kept free in front of a door


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def _round(v: float, step: float = 0.01) -> float:
    return round(round(v / step) * step, 6)


def footprint_half(obj: dict[str, Any]) -> tuple[float, float]:
    """Half extents in x and y of the axis-aligned box around an object's rotated footprint."""
    sx, sy = obj["size"][0] / 2, obj["size"][1] / 2
    c, s = abs(math.cos(obj["yaw"])), abs(math.sin(obj["yaw"]))
    return sx * c + sy * s, sx * s + sy * c


@dataclass
class _Box:
    """An axis-aligned 3D region that later objects may not enter."""

    x0: float
    y0: float
    z0: float
    x1: float
    y1: float
    z1: float

    def hits(self, other: _Box, gap: float) -> bool:
        return (
            self.x0 < other.x1 + gap
            and other.x0 < self.x1 + gap
            and self.y0 < other.y1 + gap
            and other.y0 < self.y1 + gap
            and self.z0 < other.z1
            and other.z0 < self.z1
        )


def _region(obj: dict[str, Any]) -> _Box:
    hx, hy = footprint_half(obj)
    (x, y, z), h = obj["center"], obj["size"][2]
    return _Box(x - hx, y - hy, z - h / 2, x + hx, y + hy, z + h / 2)


class _Layout:
    """Rejection-sampling placement of objects in one room."""

    def __init__(self, rng: np.random.Generator, w: float, length: float, h: float):
        self.rng, self.width, self.length, self.height = rng, w, length, h
        self.objects: list[dict[str, Any]] = []
        self.blocked: list[_Box] = []
        ox, oy = CAMERA_ORBIT * w + CAMERA_CLEARANCE, CAMERA_ORBIT * length + CAMERA_CLEARANCE
        self.walkway = _Box(w / 2 - ox, length / 2 - oy, 0.0, w / 2 + ox, length / 2 + oy, h)

    def _fits(self, obj: dict[str, Any], extra: _Box | None = None) -> bool:
        box = _region(obj)
        if box.x0 < 0 or box.y0 < 0 or box.x1 > self.width or box.y1 > self.length or box.z1 > self.height:
            return False
        if box.hits(self.walkway, 0.0) or any(box.hits(b, GAP) for b in self.blocked):
            return False
        return extra is None or not any(extra.hits(b, GAP) for b in self.blocked)

    def _add(self, obj: dict[str, Any], extra: _Box | None = None) -> None:
        obj["id"] = len(self.objects)
        self.objects.append(obj)
        self.blocked.append(_region(obj))
        if extra is not None:
            self.blocked.append(extra)

    def _new(self, cat: Category) -> dict[str, Any]:
        size = [_round(_uniform(self.rng, r)) for r in (cat.width, cat.depth, cat.height)]
        return {
            "id": -1,
            "category": cat.name,
            "center": [0.0, 0.0, 0.0],
            "size": size,
            "yaw": 0.0,
            "color": list(cat.color),
        }

    def _against_wall(self, obj: dict[str, Any], wall: int, along: float, bottom: float) -> None:
        """Back of the object against wall 0 (y=0), 1 (x=w), 2 (y=l) or 3 (x=0); front into the room."""
        depth, height = obj["size"][1], obj["size"][2]
        z = bottom + height / 2
        inset = depth / 2 + (0.0 if bottom > 0 or obj["size"][1] < 0.1 else 0.03)
        x, y = {
            0: (along, inset),
            1: (self.width - inset, along),
            2: (along, self.length - inset),
            3: (inset, along),
        }[wall]
        obj["yaw"] = wall * math.pi / 2
        obj["center"] = [_round(x, 0.001), _round(y, 0.001), _round(z, 0.001)]

    def place(self, cat: Category, tries: int = 60) -> bool:
        """Try to place one instance of ``cat``; False when no free spot was found."""
        rng = self.rng
        for _ in range(tries):
            obj = self._new(cat)
            extra = None
            if cat.placement in (WALL, FLOOR):
                wall = int(rng.integers(4))
                side = self.width if wall % 2 == 0 else self.length
                half = obj["size"][0] / 2
                if side - 2 * half < 0.2:
                    continue
                bottom = _uniform(rng, cat.elevation) if cat.placement == WALL else 0.0
                self._against_wall(obj, wall, _uniform(rng, (half + 0.1, side - half - 0.1)), bottom)
                if cat.name == "door":  # keep the swing area free of floor objects
                    extra = _region(obj)
                    dx, dy = -math.sin(obj["yaw"]), math.cos(obj["yaw"])
                    extra = _Box(
                        min(extra.x0, extra.x0 + dx * DOOR_SWING),
                        min(extra.y0, extra.y0 + dy * DOOR_SWING),
                        0.0,
                        max(extra.x1, extra.x1 + dx * DOOR_SWING),
                        max(extra.y1, extra.y1 + dy * DOOR_SWING),
                        extra.z1,
                    )
            else:
                obj["yaw"] = int(rng.integers(4)) * math.pi / 2
                hx, hy = footprint_half(obj)
                if self.width - 2 * hx < 0.1 or self.length - 2 * hy < 0.1:
                    continue
                x = _uniform(rng, (hx + 0.05, self.width - hx - 0.05))
                y = _uniform(rng, (hy + 0.05, self.length - hy - 0.05))
                obj["center"] = [_round(x, 0.001), _round(y, 0.001), _round(obj["size"][2] / 2, 0.001)]
            if self._fits(obj, extra):
                self._add(obj, extra)
                return True
        return False

    def place_chair_at_table(self, cat: Category, table: dict[str, Any], tries: int = 12) -> bool:
        """A chair at one side of a table, facing it (tables are axis-aligned: yaw k·90°)."""
        rng = self.rng
        tx, ty = table["center"][0], table["center"][1]
        thx, thy = footprint_half(table)
        for _ in range(tries):
            obj = self._new(cat)
            side = int(rng.integers(4))  # the chair's front must point at the table
            obj["yaw"] = [0.0, math.pi / 2, math.pi, 3 * math.pi / 2][side]
            d = obj["size"][1] / 2 + 0.12
            if side == 0:  # south of the table, facing +y
                x, y = tx + _uniform(rng, (-thx, thx)) * 0.6, ty - thy - d
            elif side == 1:  # east, facing -x
                x, y = tx + thx + d, ty + _uniform(rng, (-thy, thy)) * 0.6
            elif side == 2:  # north, facing -y
                x, y = tx + _uniform(rng, (-thx, thx)) * 0.6, ty + thy + d
            else:  # west, facing +x
                x, y = tx - thx - d, ty + _uniform(rng, (-thy, thy)) * 0.6
            obj["center"] = [_round(x, 0.001), _round(y, 0.001), _round(obj["size"][2] / 2, 0.001)]
            if self._fits(obj):
                self._add(obj)
                return True
        return False


@dataclass(frozen=True)
class World:
    """What rooms hold: every room has a door (sometimes two) and, with probability ``window_p``,
    windows; then ``others`` (low, high: numpy's half-open range) distinct categories drawn from
    ``categories``."""

    name: str
    categories: tuple[str, ...]
    others: tuple[int, int]
    window_p: float

    @property
    def vocabulary(self) -> list[str]:
        """Every category a room of this world can hold, in VOCABULARY's order."""
        walls = {"door"} | ({"window"} if self.window_p else set())
        return [c for c in VOCABULARY if c in walls or c in self.categories]


WORLDS = {w.name: w for w in [
    # VSI-Bench-like rooms: 8 to 12 categories, about 15 objects.
    World("vsi", tuple(n for n in VOCABULARY if n not in ("door", "window")), (6, 10), 0.9),
    # Short maps for a laptop-sized model: one or two doors and 2 or 3 of 7 well-told-apart
    # categories, no windows (3 or 4 map keys, about 6 objects): maps a tiny decoder can look things
    # up in within a CPU budget (docs/tiny-ablation.md).
    World("small", ("chair", "table", "sofa", "bed", "lamp", "plant", "stool"), (2, 4), 0.0),
]}


def get_world(name: str) -> World:
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; choose one of {', '.join(WORLDS)}")
    return WORLDS[name]


def _choose_counts(rng: np.random.Generator, world: World) -> list[tuple[str, int]]:
    """Which categories a room has and how many of each (before placement may drop some)."""

    def count(cat: Category) -> int:  # half of the multi-instance categories still get one instance
        if cat.max_count == 1 or rng.random() < 0.5:
            return 1
        return int(rng.integers(2, cat.max_count + 1))

    counts = [("door", 1 + int(rng.random() < 0.15))]
    if rng.random() < world.window_p:
        counts.append(("window", count(VOCABULARY["window"])))
    others = list(world.categories)
    k = int(rng.integers(*world.others))
    for name in sorted(rng.choice(others, size=k, replace=False), key=others.index):
        counts.append((str(name), count(VOCABULARY[str(name)])))
    return counts


def generate_scene(seed: int | list[int], scene_id: str = "scene_0000", world: str = "vsi") -> dict[str, Any]:
    """A random furnished room of ``world`` (WORLDS), fully determined by ``seed`` (an int or a list
    of ints)."""
    rng = np.random.default_rng(seed)
    w, length = (_round(_uniform(rng, ROOM_SIDE), 0.1) for _ in range(2))
    h = _round(_uniform(rng, ROOM_HEIGHT), 0.1)
    layout = _Layout(rng, w, length, h)
    # Big and wall-bound things first, small free-standing ones last: fewer rejections.
    counts = sorted(
        _choose_counts(rng, get_world(world)), key=lambda nc: (VOCABULARY[nc[0]].placement == FREE, nc[0] == "chair")
    )
    for name, n in counts:
        cat = VOCABULARY[name]
        tables = [o for o in layout.objects if o["category"] == "table"]
        for i in range(n):
            if name == "chair" and tables and layout.place_chair_at_table(cat, tables[i % len(tables)]):
                continue
            layout.place(cat)
    return {
        "scene_id": scene_id,
        "room": {"size": [w, length, h], "bounds": [0.0, 0.0, w, length]},
        "objects": layout.objects,
    }


def room_bounds(scene: dict[str, Any]) -> tuple[float, float, float, float]:
    """The room's (xmin, ymin, xmax, ymax) on the floor, the frame of its cognitive map (annotations
    without ``bounds`` span [0, w] × [0, l])."""
    w, length = scene["room"]["size"][:2]
    return tuple(scene["room"].get("bounds", [0.0, 0.0, w, length]))
