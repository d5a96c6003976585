"""Doorways: the room goes on beyond an opening in the wall the camera faces (a variation of the geometry).

In the plain rooms the farthest thing in view is always the wall the camera faces, lit by the same
lamp as everything else. Real photos often look through a door, an archway or a wide opening into the
next room, a corridor or the rest of a basement: a second space, farther and usually darker than the
first. `add_doorway(scene, p)` gives a sampled room, with probability `p`, such a view: the wall the
camera faces moves back by 1.5-4.5 m, a partition with the wall's own material stands where it was
(10-20 cm thick) with a door (0.8-1 m wide, about 2 m high) or a wide opening (1.2-3 m, up to the
ceiling) in it where the camera can see it, one or two pieces of furniture stand in the space beyond,
and that space is lit its own way: 25-150 % of the light the room's lamp and ambient light would give it
(`RoomScene.beyond`, which the renderer reads), as the next room's lights may be off or on. Not always
darker: a network trained on spaces beyond that are always darker learns that darkness is distance,
and real rooms have dark things close by (benchmarks/RESULTS.md measures both versions).

Like clutter.py this adds geometry, so depth and normals change with it. It is a pure function of the
scene's seed (its own random stream), the frame's depth stays below `MAX_DEPTH_M`, and a room it
leaves alone is the room as sampled, pixel for pixel.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .clutter import MAX_PRIMITIVES
from .furniture import (_WALL_OBJECTS, _against_wall, _camera_z_of_room_corners, _choose, _footprint,
                        _furniture_materials, _overlaps)
from .scene import MAX_DEPTH_M, Primitive, RoomScene


def _facing_wall(scene: RoomScene) -> tuple[int, float, float]:
    """The wall (face 2-5) the camera's horizontal view direction meets, where along it, and how far away
    (metres)."""
    lx, _, lz = scene.size_m
    x, _, z = scene.camera.position_m
    fx, fz = math.sin(scene.camera.yaw), math.cos(scene.camera.yaw)
    tx = ((lx - x) / fx if fx > 0 else -x / fx) if abs(fx) > 1e-9 else math.inf
    tz = ((lz - z) / fz if fz > 0 else -z / fz) if abs(fz) > 1e-9 else math.inf
    if tx < tz:
        return (3 if fx > 0 else 2), z + tx * fz, tx
    return (5 if fz > 0 else 4), x + tz * fx, tz


def _shifted(scene: RoomScene, axis: int, d: float) -> RoomScene:
    """The scene moved by `d` metres along room axis `axis` (0: x, 2: z), decals included."""
    def move(point):
        point = list(point)
        point[axis] += d
        return tuple(float(v) for v in point)

    decals = []
    for decal in scene.decals:
        rect = list(decal.rect_m)
        if decal.face in (0, 1):          # floor and ceiling: (x0, z0, x1, z1)
            moved = (0, 2) if axis == 0 else (1, 3)
        elif decal.face in (2, 3):        # walls x = const: s is z
            moved = (0, 2) if axis == 2 else ()
        else:                             # walls z = const: s is x
            moved = (0, 2) if axis == 0 else ()
        for i in moved:
            rect[i] += d
        decals.append(replace(decal, rect_m=tuple(float(v) for v in rect)))
    camera = replace(scene.camera, position_m=move(scene.camera.position_m))
    return replace(scene, camera=camera, light_m=move(scene.light_m), decals=decals,
                   primitives=[replace(q, center_m=move(q.center_m)) for q in scene.primitives])


def _resting_on(primitives, seeds) -> list[int]:
    """Indices of `seeds` and of every primitive that touches them, directly or through others (the
    legs and top of a table, the books on it): whole objects, to take away together."""
    boxes = [(c.min(0) - 0.01, c.max(0) + 0.01) for c in (q.corners() for q in primitives)]
    found, todo = set(seeds), list(seeds)
    while todo:
        lo, hi = boxes[todo.pop()]
        for k, (b_lo, b_hi) in enumerate(boxes):
            if k not in found and np.all(lo <= b_hi) and np.all(b_lo <= hi):
                found.add(k)
                todo.append(k)
    return sorted(found)


def _wall_box(axis, lo, hi, s0, s1, t0, t1, material) -> Primitive:
    """A box from `lo` to `hi` along `axis`, from s0 to s1 along the wall, t0 to t1 in height."""
    along = ((lo + hi) / 2, (hi - lo) / 2)
    across = ((s0 + s1) / 2, (s1 - s0) / 2)
    x, hx = (along if axis == 0 else across)
    z, hz = (across if axis == 0 else along)
    return Primitive("box", (float(x), float((t0 + t1) / 2), float(z)),
                     (float(hx), float((t1 - t0) / 2), float(hz)), material, label="partition")


def add_doorway(scene: RoomScene, p: float) -> RoomScene:
    """With probability `p`, the room with the wall the camera faces moved back and a partition with an
    opening where it stood; the space beyond is lit its own way. See the module's docstring.

    A pure function of the scene's seed; with `p` 0, when the draw says no, or when no opening fits (the
    wall too short, furniture in the way, no room left below `MAX_DEPTH_M`), the scene comes back unchanged."""
    if p <= 0:
        return scene
    rng = np.random.default_rng([scene.seed, 8])
    if rng.random() >= p:
        return scene
    face, s_hit, distance = _facing_wall(scene)
    axis, high = (0 if face in (2, 3) else 2), face in (3, 5)
    lx, ly, lz = scene.size_m
    length = lz if axis == 0 else lx                    # the wall's length
    old = lx if axis == 0 else lz                       # the room's extent towards that wall

    # How far the room goes on: 1.5-4.5 m, less where the farthest corner would pass MAX_DEPTH_M.
    d = rng.uniform(1.5, 4.5)
    while True:
        size = (lx + d, ly, lz) if axis == 0 else (lx, ly, lz + d)
        camera = scene.camera
        if not high:
            camera = replace(camera, position_m=tuple(v + (d if i == axis else 0.0)
                                                      for i, v in enumerate(camera.position_m)))
        if _camera_z_of_room_corners(size, camera) <= MAX_DEPTH_M - 0.2:
            break
        d *= 0.85
        if d < 1.0:
            return scene
    thickness = rng.uniform(0.1, 0.2)
    if rng.random() < 0.5:                              # a door
        width, top = rng.uniform(0.8, 1.0), rng.uniform(1.95, 2.15)
    else:                                               # a wide opening, sometimes up to the ceiling
        width = rng.uniform(1.2, 3.0)
        top = ly if rng.random() < 0.3 else rng.uniform(2.0, ly)
    top = min(top, ly)
    if length < width + 0.3:
        return scene

    # Where along the wall: near where the camera looks, preferably clear of what stands against the
    # wall; otherwise what stands in the opening is taken away, with whatever rests on it.
    other = 2 - axis
    against = []                                        # (index, lo, hi along the wall) of what stands there
    for k, q in enumerate(scene.primitives):
        c = q.corners()
        depth_from_wall = (old - c[:, axis].max()) if high else c[:, axis].min()
        if depth_from_wall < 0.3 and c[:, 1].min() < top:
            against.append((k, c[:, other].min(), c[:, other].max()))
    blocking = []
    for attempt in range(10):
        if attempt < 5:                                 # near where the camera looks, then anywhere
            s0 = s_hit - width / 2 + rng.uniform(-1, 1) * min(1.0, distance / 2)
        else:
            s0 = rng.uniform(0, length)
        s0 = float(np.clip(s0, 0.15, length - width - 0.15))
        blocks = [k for k, lo, hi in against if not (s0 + width < lo - 0.05 or hi + 0.05 < s0)]
        if attempt == 0 or len(blocks) < len(blocking):
            start, blocking = s0, blocks
        if not blocks:
            break
    if blocking:
        removed = set(_resting_on(scene.primitives, blocking))
        scene = replace(scene, primitives=[q for k, q in enumerate(scene.primitives) if k not in removed])

    moved = scene if high else _shifted(scene, axis, d)
    plane = old if high else d                          # the partition's face towards the camera
    lo, hi = (plane, plane + thickness) if high else (plane - thickness, plane)
    wall = scene.face_materials[face]
    end = start + width
    parts = [_wall_box(axis, lo, hi, -0.01, start, -0.01, ly + 0.01, wall),
             _wall_box(axis, lo, hi, end, length + 0.01, -0.01, ly + 0.01, wall)]
    if top < ly - 0.01:
        parts.append(_wall_box(axis, lo, hi, start, end, top, ly + 0.01, wall))

    # One or two pieces of furniture against the far wall of the space beyond.
    beyond_lo, beyond_hi = (hi, old + d) if high else (0.0, lo)
    mats = _furniture_materials(rng)
    footprints = []
    for _ in range(int(rng.integers(1, 3))):
        objects, (w, depth) = _choose(rng, _WALL_OBJECTS)(rng, mats)
        if w + 0.1 > length or depth + 0.1 > beyond_hi - beyond_lo:
            continue
        s = rng.uniform(w / 2 + 0.02, length - w / 2 - 0.02)
        placed = _against_wall(objects, face, s, 0.02, size[0], size[2])
        c = np.concatenate([q.corners() for q in placed])
        fp = _footprint(placed)
        if c[:, 1].max() > ly - 0.05 or any(_overlaps(fp, other) for other in footprints):
            continue
        if c[:, axis].min() < beyond_lo + 0.02 or c[:, axis].max() > beyond_hi:
            continue
        footprints.append(fp)
        parts += placed
    if len(moved.primitives) + len(parts) > MAX_PRIMITIVES:
        return scene
    sign = 1.0 if high else -1.0
    return replace(moved, size_m=tuple(float(v) for v in size), primitives=moved.primitives + parts,
                   beyond=(axis, float(hi if high else lo), sign, float(rng.uniform(0.25, 1.5))))
