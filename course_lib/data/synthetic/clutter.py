"""Clutter: the small things real rooms are full of, at their real sizes (a variation of the geometry).

`add_clutter(scene, p)` gives a sampled room, with probability `p`, what a photo of a lived-in room
shows and the plain rooms lack: books, boxes, bottles, mugs, monitors, lamps and plants on tables and
cabinets, cushions on sofas and beds, and cardboard boxes, bins and bags on the floor, mostly where the
camera looks. Each thing keeps its real size (a mug 10 cm, a monitor 50 cm, a bin 30-70 cm), so that,
like a door 2 m high, it tells the network how far away it stands.

Unlike the variations in variations.py this one adds geometry: depth and normals change with it. It is
a pure function of the scene's seed (its own random stream), and a room it leaves alone is the room as
sampled, pixel for pixel.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .furniture import _FABRICS, _FURNITURE, _distance_to_aabb, _jitter, _material, _overlaps, _pick
from .scene import NUM_FACES, Material, Primitive, RoomScene

MAX_PRIMITIVES = 255 - NUM_FACES     # the renderer's id map is uint8: faces first, then every primitive
_SUPPORTS = {"table": (1, 5), "cabinet": (1, 4), "crate": (0, 2)}   # label: how many things on top (lo, hi)
_SEATS = ("sofa", "bed")
_CARDBOARD = [(0.62, 0.47, 0.32), (0.55, 0.42, 0.28), (0.70, 0.58, 0.42)]
_BRIGHT = [(0.80, 0.15, 0.12), (0.15, 0.35, 0.70), (0.90, 0.75, 0.15), (0.20, 0.55, 0.25), (0.85, 0.85, 0.85),
           (0.10, 0.10, 0.12), (0.60, 0.30, 0.55)]


def _paint(rng, palette, amount=0.08, glossy=False) -> Material:
    color = _pick(rng, palette, amount)
    return Material("paint", color, color, 0.5, glossy=glossy)


def _small_thing(rng, on_table: bool):
    """One thing for a table or cabinet top, in its own frame (bottom at y = 0): (parts, radius)."""
    r = rng.random()
    if r < 0.25:   # a stack of books, each its own colour
        w, d = rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.3)
        parts, y = [], 0.0
        for _ in range(int(rng.integers(1, 5))):
            t = rng.uniform(0.02, 0.05)
            parts.append(Primitive("box", (0.0, y + t / 2, 0.0), (w / 2, t / 2, d / 2), _paint(rng, _BRIGHT, 0.12),
                                   float(rng.uniform(-0.3, 0.3)), "clutter:book"))
            y += t
        return parts, 0.5 * math.hypot(w, d)
    if r < 0.45:   # a bottle or a mug
        bottle = rng.random() < 0.5
        rad = rng.uniform(0.03, 0.045) if bottle else rng.uniform(0.035, 0.05)
        h = rng.uniform(0.18, 0.32) if bottle else rng.uniform(0.08, 0.12)
        mat = _paint(rng, _BRIGHT, 0.1, glossy=bottle)
        return [Primitive("cylinder", (0.0, h / 2, 0.0), (rad, h / 2, rad), mat, label="clutter:bottle")], rad
    if r < 0.65:   # a box
        w, h, d = rng.uniform(0.1, 0.35), rng.uniform(0.05, 0.25), rng.uniform(0.1, 0.3)
        mat = _paint(rng, _CARDBOARD if rng.random() < 0.5 else _FURNITURE, 0.08)
        return [Primitive("box", (0.0, h / 2, 0.0), (w / 2, h / 2, d / 2), mat, float(rng.uniform(0, math.pi)),
                          "clutter:box")], 0.5 * math.hypot(w, d)
    if r < 0.8 and on_table:   # a monitor on its stand
        w, h = rng.uniform(0.45, 0.65), rng.uniform(0.28, 0.4)
        screen = Material("paint", (0.03, 0.03, 0.035), (0.03, 0.03, 0.03), 1.0, glossy=True)
        stand = _paint(rng, [(0.1, 0.1, 0.1), (0.6, 0.6, 0.62)], 0.05)
        yaw = float(rng.uniform(-0.5, 0.5))
        return [Primitive("box", (0.0, 0.06, 0.0), (0.04, 0.06, 0.04), stand, yaw, "clutter:monitor stand"),
                Primitive("box", (0.0, 0.12 + h / 2, 0.0), (w / 2, h / 2, 0.02), screen, yaw, "clutter:monitor")], w / 2
    if r < 0.9:    # a lamp: a base, a stem, a shade
        shade_r, stem = rng.uniform(0.1, 0.18), rng.uniform(0.2, 0.45)
        metal = _paint(rng, [(0.15, 0.15, 0.15), (0.7, 0.65, 0.5)], 0.05, glossy=True)
        shade = _paint(rng, [(0.92, 0.88, 0.78), (0.85, 0.85, 0.85), (0.6, 0.5, 0.4)], 0.05)
        return [Primitive("cylinder", (0.0, 0.015, 0.0), (0.08, 0.015, 0.08), metal, label="clutter:lamp"),
                Primitive("cylinder", (0.0, 0.03 + stem / 2, 0.0), (0.012, stem / 2, 0.012), metal,
                          label="clutter:lamp"),
                Primitive("cylinder", (0.0, 0.03 + stem + 0.09, 0.0), (shade_r, 0.09, shade_r), shade,
                          label="clutter:lamp shade")], shade_r
    pot_r, pot_h = rng.uniform(0.06, 0.12), rng.uniform(0.08, 0.18)   # a plant in a pot
    leaves = rng.uniform(1.2, 2.2) * pot_r
    green = Material("fabric", _jitter(rng, (0.15, 0.35, 0.12)), _jitter(rng, (0.25, 0.45, 0.15)), 0.02)
    return [Primitive("cylinder", (0.0, pot_h / 2, 0.0), (pot_r, pot_h / 2, pot_r), _paint(rng, _FURNITURE),
                      label="clutter:pot"),
            Primitive("sphere", (0.0, pot_h + 0.8 * leaves, 0.0), (leaves,) * 3, green, label="clutter:plant")], leaves


def _floor_thing(rng):
    """One thing that stands on the floor, in its own frame: (parts, radius)."""
    r = rng.random()
    if r < 0.5:    # cardboard boxes, sometimes two stacked
        parts, y = [], 0.0
        for _ in range(1 if rng.random() < 0.6 else 2):
            w, h, d = rng.uniform(0.3, 0.6), rng.uniform(0.2, 0.5), rng.uniform(0.3, 0.5)
            parts.append(Primitive("box", (0.0, y + h / 2, 0.0), (w / 2, h / 2, d / 2), _paint(rng, _CARDBOARD, 0.06),
                                   float(rng.uniform(-0.2, 0.2)), "clutter:carton"))
            y += h
        return parts, 0.36
    if r < 0.8:    # a bin or a bucket
        rad, h = rng.uniform(0.15, 0.3), rng.uniform(0.3, 0.7)
        return [Primitive("cylinder", (0.0, h / 2, 0.0), (rad, h / 2, rad), _paint(rng, _BRIGHT + _FURNITURE, 0.1),
                          label="clutter:bin")], rad
    rad = rng.uniform(0.15, 0.28)    # a bag or a ball
    mat = _material(rng, "fabric") if rng.random() < 0.5 else _paint(rng, _FABRICS, 0.1)
    return [Primitive("sphere", (0.0, rad, 0.0), (rad, rad, rad), mat, label="clutter:bag")], rad


def _moved(parts, x, y, z, yaw):
    """Parts of a thing built in its own frame, turned by `yaw` and moved to (x, y, z)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return [replace(p, center_m=(x + c * p.center_m[0] + s * p.center_m[2], y + p.center_m[1],
                                 z - s * p.center_m[0] + c * p.center_m[2]), yaw=p.yaw + yaw) for p in parts]


def _box_of(parts):
    """(lo, hi): the corners of the axis-aligned box around some parts, each (3,)."""
    corners = np.concatenate([p.corners() for p in parts])
    return corners.min(0), corners.max(0)


def add_clutter(scene: RoomScene, p: float) -> RoomScene:
    """With probability `p`, the room with small things on its tables, cabinets and seats and on its floor.

    Things on a support stay inside its top and apart from each other; things on the floor stand clear of
    every object and of the camera (0.6 m), inside the room, most of them in the camera's view. A pure
    function of the scene's seed; with `p` 0, or when the draw says no, the scene comes back unchanged."""
    if p <= 0:
        return scene
    rng = np.random.default_rng([scene.seed, 6])
    if rng.random() >= p:
        return scene
    lx, ly, lz = scene.size_m
    cam = np.asarray(scene.camera.position_m, np.float64)
    added = []
    boxes = [_box_of([q]) for q in scene.primitives]     # what is there already, each as (lo, hi)

    def fits(placed, others) -> bool:
        """Inside the room below the ceiling, clear of the camera, of `others` and of the id map's limit."""
        lo, hi = _box_of(placed)
        return (hi[1] < ly - 0.1 and lo[0] > 0.01 and lo[2] > 0.01 and hi[0] < lx - 0.01 and hi[2] < lz - 0.01
                and _distance_to_aabb(cam, placed) >= 0.6
                and not any(np.all(lo < b_hi - 0.005) and np.all(b_lo + 0.005 < hi) for b_lo, b_hi in others)
                and len(scene.primitives) + len(added) + len(placed) <= MAX_PRIMITIVES)

    for index, support in enumerate(scene.primitives):
        kind = support.label
        if support.kind != "box" or (kind not in _SUPPORTS and kind not in _SEATS):
            continue
        hx, hy, hz = support.half_m
        top = support.center_m[1] + hy
        taken = []                                   # (u, v, radius) of what stands on this support already
        count = int(rng.integers(1, 4)) if kind in _SEATS else int(rng.integers(*_SUPPORTS[kind]))
        for _ in range(count):
            if kind in _SEATS:                       # a cushion, upright
                w, t = rng.uniform(0.35, 0.5), rng.uniform(0.12, 0.2)
                parts = [Primitive("box", (0.0, w / 2 - 0.05, 0.0), (w / 2, w / 2 - 0.05, t / 2),
                                   _material(rng, "fabric"), float(rng.uniform(-0.15, 0.15)), "clutter:cushion")]
                radius = w / 2
            else:
                parts, radius = _small_thing(rng, on_table=kind == "table")
            if hx < radius + 0.02 or hz < radius + 0.02:
                continue
            u = rng.uniform(-hx + radius, hx - radius)
            v = rng.uniform(-hz + radius, hz - radius)
            if any(math.hypot(u - a, v - b) < radius + r + 0.02 for a, b, r in taken):
                continue
            c, s = math.cos(support.yaw), math.sin(support.yaw)
            x, z = support.center_m[0] + c * u + s * v, support.center_m[2] - s * u + c * v
            placed = _moved(parts, x, top, z, support.yaw + float(rng.uniform(-0.3, 0.3)))
            # clear of what already stands there (a vase, a screen), the support itself aside
            if not fits(placed, boxes[:index] + boxes[index + 1:]):
                continue
            taken.append((u, v, radius))
            added += placed

    # On the floor: footprints (x0, x1, z0, z1) of everything that reaches below 1 m must stay clear.
    blocked = [(c[:, 0].min(), c[:, 0].max(), c[:, 2].min(), c[:, 2].max())
               for c in (q.corners() for q in scene.primitives + added) if c[:, 1].min() < 1.0]
    fwd = np.array([math.sin(scene.camera.yaw), math.cos(scene.camera.yaw)])
    for _ in range(int(rng.integers(3, 13))):
        parts, radius = _floor_thing(rng)
        for _try in range(10):
            if rng.random() < 0.75:                  # in view: up to 35 degrees off the view direction
                angle, dist = rng.uniform(-0.6, 0.6), rng.uniform(1.0, 5.0)
                c, s = math.cos(angle), math.sin(angle)
                x = cam[0] + dist * (c * fwd[0] + s * fwd[1])
                z = cam[2] + dist * (-s * fwd[0] + c * fwd[1])
            else:
                x, z = rng.uniform(0, lx), rng.uniform(0, lz)
            if not (radius + 0.02 < x < lx - radius - 0.02 and radius + 0.02 < z < lz - radius - 0.02):
                continue
            placed = _moved(parts, x, 0.0, z, float(rng.uniform(0, math.pi)))
            lo, hi = _box_of(placed)
            fp = (lo[0], hi[0], lo[2], hi[2])
            if any(_overlaps(fp, b, 0.03) for b in blocked) or _distance_to_aabb(cam, placed) < 0.75 \
                    or not fits(placed, []):
                continue
            blocked.append(fp)
            added += placed
            break
    return replace(scene, primitives=scene.primitives + added)
