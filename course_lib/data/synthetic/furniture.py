"""Materials and furniture: the random parts a room is made of (step 1 of the pipeline, first part).

`_material(rng, role)` picks a material for a wall, floor, ceiling or piece of furniture from small
palettes of paints, woods and fabrics, each colour jittered. Each furniture builder (`_cabinet`,
`_bed_or_sofa`, `_bookshelf`, `_table` with its chairs, `_wall_cupboard`, `_cylinder_thing`, `_ball`,
`_crate`) makes one object from boxes, cylinders and spheres in its own frame (x along, y up, z out of
the wall it stands against) and returns its parts and footprint; `_place` moves the parts into the
room. `_WALL_OBJECTS` and `_FREE_OBJECTS` weight the builders for the two places an object can stand.
"""
from __future__ import annotations

import math

import numpy as np

from .scene import Material, Primitive

# --------------------------------------------------------------------------------------------------
# Materials: small palettes of colours, each jittered when it is used

_WALL_PAINTS = [(0.85, 0.84, 0.80), (0.80, 0.76, 0.68), (0.70, 0.72, 0.72), (0.78, 0.70, 0.62),
                (0.62, 0.70, 0.75), (0.75, 0.78, 0.66), (0.88, 0.86, 0.84), (0.72, 0.60, 0.55),
                (0.55, 0.60, 0.52), (0.90, 0.88, 0.78)]
_WOODS = [(0.55, 0.36, 0.20), (0.70, 0.52, 0.32), (0.40, 0.25, 0.14), (0.78, 0.64, 0.45),
          (0.30, 0.20, 0.13), (0.62, 0.45, 0.30)]
_FURNITURE = [(0.85, 0.85, 0.83), (0.15, 0.15, 0.16), (0.55, 0.20, 0.15), (0.20, 0.30, 0.50),
              (0.55, 0.55, 0.52), (0.30, 0.45, 0.30), (0.70, 0.60, 0.40), (0.60, 0.35, 0.45),
              (0.35, 0.30, 0.28), (0.80, 0.75, 0.60)]
_FABRICS = [(0.45, 0.45, 0.50), (0.55, 0.30, 0.25), (0.25, 0.35, 0.45), (0.60, 0.55, 0.45),
            (0.30, 0.30, 0.30), (0.50, 0.55, 0.40), (0.70, 0.68, 0.65)]


def _jitter(rng, color, amount=0.06):
    return tuple(float(np.clip(c + rng.uniform(-amount, amount), 0.02, 0.95)) for c in color)


def _pick(rng, palette, amount=0.06):
    return _jitter(rng, palette[int(rng.integers(len(palette)))], amount)


def _material(rng, role: str) -> Material:
    """A random material for a surface with a role: wall, floor, ceiling, wood, furniture, fabric, metal."""
    offset = (float(rng.uniform(0, 50)), float(rng.uniform(0, 50)))
    rotate = bool(rng.random() < 0.5)
    if role == "wall":
        base = _pick(rng, _WALL_PAINTS, 0.04)
        if rng.random() < 0.25:
            return Material("stripes", base, _jitter(rng, base, 0.12), float(rng.uniform(0.05, 0.4)),
                            offset=offset)
        if rng.random() < 0.1:
            return Material("tiles", base, _jitter(rng, (0.6, 0.6, 0.6), 0.2), float(rng.uniform(0.1, 0.3)),
                            offset=offset)
        return Material("paint", base, base, float(rng.uniform(0.3, 1.5)), offset=offset)
    if role == "ceiling":
        base = _jitter(rng, (0.88, 0.88, 0.86), 0.04)
        kind = "tiles" if rng.random() < 0.3 else "paint"
        return Material(kind, base, _jitter(rng, (0.7, 0.7, 0.7), 0.05), float(rng.uniform(0.5, 0.8)),
                        offset=offset)
    if role == "floor":
        r = rng.random()
        if r < 0.45:
            return Material("wood", _pick(rng, _WOODS), _pick(rng, _WOODS), float(rng.uniform(0.08, 0.25)),
                            glossy=bool(rng.random() < 0.3), rotate=rotate, offset=offset)
        if r < 0.75:
            base = _pick(rng, [(0.75, 0.72, 0.66), (0.5, 0.5, 0.5), (0.8, 0.8, 0.8), (0.55, 0.45, 0.38)])
            return Material("tiles", base, _jitter(rng, base, 0.25), float(rng.uniform(0.2, 0.6)),
                            glossy=bool(rng.random() < 0.3), offset=offset)
        return Material("fabric", _pick(rng, _FABRICS), _pick(rng, _FABRICS), float(rng.uniform(0.02, 0.08)),
                        offset=offset)
    if role == "wood":
        return Material("wood", _pick(rng, _WOODS), _pick(rng, _WOODS), float(rng.uniform(0.1, 0.3)),
                        glossy=bool(rng.random() < 0.2), rotate=rotate, offset=offset)
    if role == "fabric":
        return Material("fabric", _pick(rng, _FABRICS), _pick(rng, _FABRICS), float(rng.uniform(0.02, 0.1)),
                        offset=offset)
    if role == "metal":
        base = _jitter(rng, (0.55, 0.56, 0.58), 0.15)
        return Material("metal", base, base, 0.5, glossy=True, offset=offset)
    if role == "books":
        return Material("books", (0.1, 0.08, 0.07), (0.5, 0.4, 0.3), float(rng.uniform(0.025, 0.05)),
                        offset=offset)
    # furniture: painted, patterned or wooden
    r = rng.random()
    if r < 0.35:
        return _material(rng, "wood")
    if r < 0.5:
        return _material(rng, "fabric")
    base = _pick(rng, _FURNITURE)
    if r < 0.6:
        return Material("stripes", base, _pick(rng, _FURNITURE), float(rng.uniform(0.05, 0.3)), offset=offset)
    return Material("paint", base, base, float(rng.uniform(0.2, 1.0)), glossy=bool(rng.random() < 0.25),
                    offset=offset)


# --------------------------------------------------------------------------------------------------
# Furniture: each builder makes one object in its own frame and returns (parts, (width, depth))


# Quarter turns: (cos, sin) exactly, so that wall-aligned boxes stay axis-aligned.
_QUARTER = {0: (1.0, 0.0), 1: (0.0, 1.0), 2: (-1.0, 0.0), 3: (0.0, -1.0)}


def _place(parts, position, yaw=0.0, quarter=None):
    """Move an object built in its own frame (x along, y up, z out) into the room.

    `parts` are Primitives in the object's frame; returns them in room coordinates."""
    if quarter is not None:
        c, s = _QUARTER[quarter % 4]
    else:
        c, s = math.cos(yaw), math.sin(yaw)
    placed = []
    for p in parts:
        x, y, z = p.center_m
        center = (position[0] + c * x + s * z, y, position[2] - s * x + c * z)
        half, new_yaw = p.half_m, p.yaw + (yaw if quarter is None else 0.0)
        if quarter is not None and quarter % 2 == 1 and p.kind == "box":
            half = (half[2], half[1], half[0])
        placed.append(Primitive(p.kind, center, half, p.material, new_yaw, p.label))
    return placed


def _choose(rng, options):
    """One of `options` [(value, weight), ...], drawn by weight."""
    weights = np.array([w for _, w in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _furniture_materials(rng) -> dict:
    """One material per role the furniture builders ask for."""
    return {"furniture": _material(rng, "furniture"), "wood": _material(rng, "wood"),
            "fabric": _material(rng, "fabric"), "metal": _material(rng, "metal"), "books": _material(rng, "books")}


def _footprint(parts):
    """(x0, x1, z0, z1) room-aligned rectangle around placed primitives."""
    corners = np.concatenate([p.corners() for p in parts])
    return corners[:, 0].min(), corners[:, 0].max(), corners[:, 2].min(), corners[:, 2].max()


_QUARTER_OF_FACE = {4: 0, 5: 2, 2: 1, 3: 3}   # object frame z (out of the wall) -> room interior


def _against_wall(parts, face: int, s: float, gap: float, lx: float, lz: float):
    """An object built in its own frame, placed with its back `gap` metres from wall `face` (2-5) of a room
    lx by lz, centred `s` metres along that wall."""
    position = {2: (gap, 0, s), 3: (lx - gap, 0, s), 4: (s, 0, gap), 5: (s, 0, lz - gap)}[face]
    return _place(parts, position, quarter=_QUARTER_OF_FACE[face])


def _camera_z_of_room_corners(size, camera) -> float:
    """Depth along the camera's optical axis of the farthest corner of a room box of `size`."""
    lx, ly, lz = size
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (0, lz)], dtype=float)
    forward = camera.rotation()[:, 2]
    return float(((corners - np.asarray(camera.position_m)) @ forward).max())


def _distance_to_aabb(point, parts) -> float:
    """Distance from `point` to the axis-aligned box around placed primitives (0 inside it)."""
    corners = np.concatenate([p.corners() for p in parts])
    lo, hi = corners.min(0), corners.max(0)
    gap = np.maximum(np.maximum(lo - point, point - hi), 0.0)
    return float(np.sqrt((gap ** 2).sum()))


def _overlaps(a, b, gap=0.05) -> bool:
    return a[0] < b[1] + gap and b[0] < a[1] + gap and a[2] < b[3] + gap and b[2] < a[3] + gap


def _box(center, size, material, label):
    return Primitive("box", tuple(center), tuple(0.5 * np.asarray(size)), material, 0.0, label)


def _cabinet(rng, mats):
    w, h, d = rng.uniform(0.5, 2.0), rng.uniform(0.45, 1.1), rng.uniform(0.35, 0.65)
    parts = [_box((0, h / 2, d / 2), (w, h, d), mats["furniture"], "cabinet")]
    r = rng.random()
    if r < 0.35 and w > 0.8:   # a screen on top: dark, glossy, thin
        sw, sh = min(w * 0.7, rng.uniform(0.5, 1.1)), rng.uniform(0.3, 0.6)
        screen = Material("paint", (0.03, 0.03, 0.035), (0.03, 0.03, 0.03), 1.0, glossy=True)
        parts.append(_box((0, h + sh / 2 + 0.05, d * 0.5), (sw, sh, 0.05), screen, "cabinet:screen"))
        parts.append(_box((0, h + 0.025, d * 0.5), (0.2, 0.05, 0.15), mats["metal"], "cabinet:stand"))
    elif r < 0.6:              # a vase or lamp on top
        rad = rng.uniform(0.05, 0.14)
        hh = rng.uniform(0.15, 0.45)
        parts.append(Primitive("cylinder", (rng.uniform(-w / 3, w / 3), h + hh / 2, d / 2), (rad, hh / 2, rad),
                               _material(rng, "furniture"), label="cabinet:vase"))
    return parts, (w, d)


def _bed_or_sofa(rng, mats):
    sofa = rng.random() < 0.5
    w = rng.uniform(1.4, 2.2)
    d = rng.uniform(0.8, 1.0) if sofa else rng.uniform(1.0, 1.8)
    h = rng.uniform(0.35, 0.5)
    fabric = mats["fabric"]
    back_t = 0.2 if sofa else 0.08
    back_h = rng.uniform(0.75, 0.95) if sofa else rng.uniform(0.8, 1.2)
    name = "sofa" if sofa else "bed"
    back_mat = fabric if sofa else mats["wood"]
    parts = [_box((0, h / 2, back_t + (d - back_t) / 2), (w, h, d - back_t), fabric, name),
             _box((0, back_h / 2, back_t / 2), (w, back_h, back_t), back_mat, name + ":back")]
    if sofa:
        arm_h = h + rng.uniform(0.12, 0.25)
        for side in (-1, 1):
            parts.append(_box((side * (w / 2 + 0.09), arm_h / 2, d / 2), (0.18, arm_h, d), fabric, "sofa:arm"))
        w += 0.36
    else:  # a pillow
        parts.append(_box((0, h + 0.06, back_t + 0.25), (w * 0.8, 0.12, 0.35), _material(rng, "fabric"),
                          "bed:pillow"))
    return parts, (w, d)


def _bookshelf(rng, mats):
    w, h, d = rng.uniform(0.6, 1.6), rng.uniform(1.0, 2.2), rng.uniform(0.28, 0.4)
    wood, t = mats["wood"], 0.025
    parts = [_box((-w / 2 + t / 2, h / 2, d / 2), (t, h, d), wood, "bookshelf:side"),
             _box((w / 2 - t / 2, h / 2, d / 2), (t, h, d), wood, "bookshelf:side")]
    n_boards = int(rng.integers(3, 6))
    spacing = (h - 0.05 - t) / n_boards
    books = Material("books", mats["books"].color, mats["books"].color2, mats["books"].scale_m,
                     offset=(mats["books"].offset[0], -0.05 - t), period_m=spacing)
    parts.append(_box((0, h / 2, t / 2), (w - 2 * t, h, t), books, "bookshelf:books"))
    for i in range(n_boards + 1):
        y = 0.05 + i * (h - 0.05 - t) / n_boards
        parts.append(_box((0, y + t / 2, d / 2), (w - 2 * t, t, d), wood, "bookshelf:board"))
    return parts, (w, d)


def _table(rng, mats):
    w, d, h = rng.uniform(0.6, 1.6), rng.uniform(0.5, 1.0), rng.uniform(0.45, 0.78)
    top_t, leg = rng.uniform(0.03, 0.06), rng.uniform(0.035, 0.07)
    top = mats["wood"] if rng.random() < 0.6 else _material(rng, "furniture")
    legs = top if rng.random() < 0.5 else mats["metal"]
    parts = [_box((0, h - top_t / 2, 0), (w, top_t, d), top, "table")]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(_box((sx * (w / 2 - leg), (h - top_t) / 2, sz * (d / 2 - leg)),
                              (leg, h - top_t, leg), legs, "table:leg"))
    for side in (-1, 1):    # chairs: a seat, a back and four legs
        if rng.random() < 0.5 or w < 0.7:
            continue
        seat_h, sw = rng.uniform(0.42, 0.48), rng.uniform(0.38, 0.48)
        cz = side * (d / 2 + rng.uniform(0.05, 0.25))
        cx = rng.uniform(-w / 4, w / 4)
        chair = legs if rng.random() < 0.5 else mats["furniture"]
        parts.append(_box((cx, seat_h - 0.02, cz), (sw, 0.04, sw), chair, "chair"))
        parts.append(_box((cx, seat_h + 0.22, cz + side * (sw / 2 - 0.015)), (sw, 0.44, 0.03), chair, "chair:back"))
        for lx_ in (-1, 1):
            for lz_ in (-1, 1):
                parts.append(_box((cx + lx_ * (sw / 2 - 0.02), (seat_h - 0.04) / 2, cz + lz_ * (sw / 2 - 0.02)),
                                  (0.035, seat_h - 0.04, 0.035), chair, "chair:leg"))
        d = max(d, 2 * (abs(cz) + sw / 2))
    if rng.random() < 0.6:  # something on the table
        if rng.random() < 0.5:
            r = rng.uniform(0.05, 0.15)
            parts.append(Primitive("sphere", (rng.uniform(-w / 4, w / 4), h + r, rng.uniform(-d / 4, d / 4)),
                                   (r, r, r), _material(rng, "furniture"), label="table:ball"))
        else:
            bw, bh, bd = rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.3)
            parts.append(_box((rng.uniform(-w / 4, w / 4), h + bh / 2, rng.uniform(-d / 4, d / 4)), (bw, bh, bd),
                              _material(rng, "furniture"), "table:box"))
    return parts, (w, d)


def _wall_cupboard(rng, mats):
    w, h, d = rng.uniform(0.5, 1.6), rng.uniform(0.4, 0.8), rng.uniform(0.25, 0.4)
    y0 = rng.uniform(1.4, 1.7)
    return [_box((0, y0 + h / 2, d / 2), (w, h, d), mats["furniture"], "wall cupboard")], (w, d)


def _cylinder_thing(rng, mats):
    r, h = rng.uniform(0.12, 0.35), rng.uniform(0.3, 1.0)
    mat = mats["metal"] if rng.random() < 0.3 else _material(rng, "furniture")
    parts = [Primitive("cylinder", (0, h / 2, 0), (r, h / 2, r), mat, label="cylinder")]
    if rng.random() < 0.3:  # a plant pot with a round plant
        pr = r * rng.uniform(1.2, 1.8)
        green = Material("fabric", _jitter(rng, (0.15, 0.35, 0.12)), _jitter(rng, (0.25, 0.45, 0.15)), 0.03)
        parts.append(Primitive("sphere", (0, h + pr * 0.8, 0), (pr, pr, pr), green, label="cylinder:plant"))
        r = pr
    return parts, (2 * r, 2 * r)


def _ball(rng, mats):
    r = rng.uniform(0.1, 0.3)
    return [Primitive("sphere", (0, r, 0), (r, r, r), _material(rng, "furniture"), label="ball")], (2 * r, 2 * r)


def _crate(rng, mats):
    w, h, d = rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.7), rng.uniform(0.3, 0.9)
    return [_box((0, h / 2, 0), (w, h, d), _material(rng, "furniture"), "crate")], (w, d)


_WALL_OBJECTS = [(_cabinet, 3), (_bed_or_sofa, 1.5), (_bookshelf, 2), (_wall_cupboard, 1), (_table, 1)]
_FREE_OBJECTS = [(_table, 3), (_cylinder_thing, 2), (_ball, 1), (_crate, 2)]
