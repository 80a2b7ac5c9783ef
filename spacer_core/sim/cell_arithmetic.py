"""Derivations that spell out the arithmetic on the map's cells (`spacer data synth --cell-arithmetic`).

A derivation that states "the lamp is about 70 degrees to my left" asks a small decoder to do in
one token what is really arithmetic on the map. These derivations do it in small written steps:
offsets between two cells (``(5-2, 1-3) = (3, -2)``, a difference of two digits each), products
of two offsets, then one comparison or one sum. With forward ``f`` and target ``t`` (offsets from
where I stand), ``f.x*t.y > f.y*t.x`` means the target is to the left (the cross product is
positive), ``f.x*t.x > -(f.y*t.y)`` that it is in front (the dot product is positive), and it is
behind (more than 135 degrees away) when ``-dot > |cross|``. The closest-of derivation writes the
squared cell distance of each instance (``7*7 + 2*2 = 53``).

The absolute-distance derivation (`distance`) turns cells into metres with the room's size: a cell
is a tenth of each side (rounded to 0.1 m), each offset times its cell size, the centres' distance
as the longer leg plus half the shorter (within 12% of the hypotenuse, and one addition instead of
a square root), less half of each object's footprint (the mean of its two half extents). Every
quantity is a whole number of tenths of a metre, so each step is one small product, sum or
difference. On the true maps and sizes of 6,000 small-world rooms its estimates score 64.8 MRA
(the median answer: 38.6).

Each function but `distance` returns the derivation and the answer the cells give, or None when
the cells leave it undecided (two objects in one cell, a target exactly on a boundary); the
question generators ask only items whose cell answer is the true answer
(`spacer_core.sim.questions`).
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

Cell = tuple[int, int]
_OFFSET = re.compile(r"\((\d)-(\d), (\d)-(\d)\) = \((-?\d+), (-?\d+)\)")


def offset(origin: Cell, to: Cell) -> tuple[str, Cell]:
    """``(5-2, 1-3) = (3, -2)`` and the offset."""
    d = (to[0] - origin[0], to[1] - origin[1])
    return f"({to[0]}-{origin[0]}, {to[1]}-{origin[1]}) = ({d[0]}, {d[1]})", d


def _side(f: Cell, t: Cell) -> tuple[str, str | None]:
    a, b = f[0] * t[1], f[1] * t[0]
    text = f"{f[0]}*{t[1]} = {a}, {f[1]}*{t[0]} = {b}; {a} {'>' if a > b else '<' if a < b else '='} {b}"
    return text, ("left" if a > b else "right" if a < b else None)


def _front(f: Cell, t: Cell) -> tuple[str, str | None]:
    c, d = f[0] * t[0], f[1] * t[1]
    text = f"{f[0]}*{t[0]} = {c}, {f[1]}*{t[1]} = {d}; {c} {'>' if c > -d else '<' if c < -d else '='} {-d}"
    return text, ("front" if c > -d else "back" if c < -d else None)


def _turn(f: Cell, t: Cell) -> tuple[str, str | None]:
    """Left, right or back (VSI-Bench's 135 degrees or more; exactly 135 is left undecided) from the
    cross and dot products."""
    a, b, c, d = f[0] * t[1], f[1] * t[0], f[0] * t[0], f[1] * t[1]
    cross, dot = a - b, c + d
    text = (f"{f[0]}*{t[1]} - {f[1]}*{t[0]} = {a} - {b} = {cross}. "
            f"{f[0]}*{t[0]} + {f[1]}*{t[1]} = {c} + {d} = {dot}. ")
    if -dot == abs(cross):
        return text, None
    if -dot > abs(cross):
        return text + f"{-dot} > {abs(cross)}: back", "back"
    if cross == 0:
        return text, None
    side = "left" if cross > 0 else "right"
    return text + f"{-dot} < {abs(cross)}, {cross} {'>' if cross > 0 else '<'} 0: {side}", side


def direction(kind: str, names: tuple[str, str, str], cells: tuple[Cell, Cell, Cell]) -> tuple[str, str | None]:
    """Standing at ``names[0]`` facing ``names[1]``, where is ``names[2]``: easy (left/right),
    medium (left/right/back) or hard (front-/back- left/right)."""
    (_, o, q), (pc, oc, qc) = names, cells
    facing, f = offset(pc, oc)
    toward, t = offset(pc, qc)
    head = f"Facing the {o}: {facing}. To the {q}: {toward}. "
    if f == (0, 0) or t == (0, 0):
        return head, None
    if kind == "medium":
        text, label = _turn(f, t)
        return head + text + ".", label
    side_text, side = _side(f, t)
    if side is None:
        return head + side_text + ".", None
    if kind == "easy":
        return head + f"{side_text}: {side}.", side
    front_text, front = _front(f, t)
    if front is None:
        return head + f"{side_text}: {side}. {front_text}.", None
    return head + f"{side_text}: {side}. {front_text}: {front}. So {front}-{side}.", f"{front}-{side}"


def turns(names: list[str], cells: list[Cell]) -> tuple[str, list[str | None]]:
    """A route's turn at each stop between the first and the last: the leg in, the leg out, and
    the turn between them (as `direction`'s medium)."""
    legs = [offset(a, b) for a, b in pairwise(cells)]
    parts, labels = [], []
    for i in range(1, len(cells) - 1):
        (into, f), (out, t) = legs[i - 1], legs[i]
        if f == (0, 0) or t == (0, 0):
            return "", [None]
        text, label = _turn(f, t)
        parts.append(f"At the {names[i]}: in {into}, out {out}. {text}.")
        labels.append(label)
    return " ".join(parts), labels


def closest(target: tuple[str, Cell], choices: dict[str, list[Cell]]) -> tuple[str, str | None]:
    """Which choice has an instance nearest ``target``, by squared cell distance."""
    name, (tx, ty) = target
    best: dict[str, int] = {}
    parts = []
    for choice, cells in choices.items():
        terms = []
        for x, y in cells:
            dx, dy = abs(x - tx), abs(y - ty)
            terms.append(f"({x}, {y}) {dx}*{dx} + {dy}*{dy} = {dx * dx + dy * dy}")
            best[choice] = min(best.get(choice, dx * dx + dy * dy), dx * dx + dy * dy)
        parts.append(f"{choice} " + ", ".join(terms))
    ranked = sorted(best, key=best.get)
    text = f"From the {name} ({tx}, {ty}): " + "; ".join(parts) + ". "
    if len(ranked) > 1 and best[ranked[0]] == best[ranked[1]]:
        return text, None
    return text + f"The {ranked[0]} is the closest: {best[ranked[0]]}.", ranked[0]


def _tenths(metres: float) -> int:
    """Metres as whole tenths, halves rounded up (no banker's rounding: 0.25 m is 3 tenths)."""
    return int(math.floor(metres * 10 + 0.5 + 1e-9))


def _metres(tenths: int) -> str:
    return f"{tenths // 10}.{tenths % 10}"


def distance(names: tuple[str, str], cells: tuple[Cell, Cell], room: tuple[float, float],
             halves: tuple[float, float]) -> tuple[str, float]:
    """From ``names[0]`` to ``names[1]`` in a room of ``room`` (width, length) metres, objects whose
    footprints' mean half extents are ``halves``: the derivation of their closest points' distance
    and the estimate it ends on (at least 0.1 m)."""
    width, length = (_tenths(v) for v in room)
    cell = [(width + 5) // 10, (length + 5) // 10]  # tenths of a metre per cell, halves rounded up
    text, d = offset(*cells)
    legs = [abs(d[0]) * cell[0], abs(d[1]) * cell[1]]
    short, long_ = sorted(legs)
    centres = long_ + (short + 1) // 2
    half = [_tenths(h) for h in halves]
    rest = centres - sum(half)
    out = (f"The room is about {_metres(width)} m by {_metres(length)} m, so a cell is {_metres(cell[0])} m "
           f"by {_metres(cell[1])} m. From the {names[0]} to the {names[1]}: {text}. "
           f"{abs(d[0])}*{_metres(cell[0])} = {_metres(legs[0])} m, {abs(d[1])}*{_metres(cell[1])} = {_metres(legs[1])} m. "
           f"{_metres(long_)} + {_metres(short)}/2 = {_metres(long_)} + {_metres((short + 1) // 2)} = "
           f"{_metres(centres)} m between the centres. "
           f"Half of each: {_metres(half[0])} + {_metres(half[1])} = {_metres(sum(half))} m. ")
    if rest < 1:
        return out + f"{_metres(centres)} - {_metres(sum(half))} is below 0.1, so about 0.1 m.", 0.1
    return out + f"{_metres(centres)} - {_metres(sum(half))} = {_metres(rest)} m.", rest / 10


def offsets_right(text: str) -> tuple[int, int]:
    """(right, written): the cell differences a text (a model's derivation) computes in offsets
    ``(5-2, 1-3) = (3, -2)``, the first step of the direction and route derivations."""
    written = right = 0
    for a, b, x, y, dx, dy in _OFFSET.findall(text):
        written += 2
        right += (int(a) - int(b) == int(dx)) + (int(x) - int(y) == int(dy))
    return right, written
