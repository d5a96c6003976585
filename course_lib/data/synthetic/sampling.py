"""Sampling a scene (step 1 of the pipeline): `sample_scene(seed)`, a few hundred random numbers from
`numpy.random.default_rng(seed)`.

A room box 2-8 m wide and long and 2.4-3.2 m high; a camera 1-1.7 m above the floor, inside the room,
looking into it with a random yaw, a pitch of -25..+5 degrees and a small roll; furniture (furniture.py)
standing on the floor or against the walls, preferably where the camera looks; flat pictures, doors,
windows and rugs painted on walls and floor (texture that is *not* geometry: a network must not read
depth edges off colour edges); a ceiling lamp; a material per surface. Last, the room is lit like a
photo with probability `photo_light` (`photo_lighting`) and given busy walls and floor with probability
`surfaces` (`photo_surfaces`; both in variations.py), and small things on its tables and floor with
probability `clutter` (`add_clutter`, clutter.py). With probability `long_views` the camera instead
stands near a short wall and looks along the room (`_long_view`); with probability `close_views` it stands
0.9-1.8 m in front of the wall it faces (the view of a desk, a counter, a shelf). With probability `doorways` the wall the
camera faces becomes a partition with an opening onto more room beyond (`add_doorway`, doorways.py).

Depth is within about 0.5-10 m (NYU's range): the camera keeps 0.7 m from walls and objects, and a room
is shrunk until its farthest corner is closer than `MAX_DEPTH_M` along the optical axis.
"""
from __future__ import annotations

import math

import numpy as np

from .furniture import (_FABRICS, _FREE_OBJECTS, _FURNITURE, _WALL_OBJECTS, _against_wall, _camera_z_of_room_corners,
                        _choose, _distance_to_aabb, _footprint, _furniture_materials, _jitter, _material, _overlaps,
                        _pick, _place)
from .clutter import add_clutter
from .doorways import add_doorway
from .scene import (CLOSE_VIEWS, CLUTTER, DOORWAYS, LONG_VIEWS, MAX_DEPTH_M, PHOTO_LIGHT, PHOTO_SURFACES, Camera, Decal, Material,
                    RoomScene)
from .variations import photo_lighting, photo_surfaces


def _long_view(rng, lx: float, lz: float, margin: float):
    """(behind, along, across, yaw) of a camera 0.7-1.2 m in front of one of the room's two short walls,
    looking along the room's length within 20 degrees: the view a photographer takes of a room. Without
    it the camera stands in front of any wall, often facing a near one: per-frame median depth 2.7 m, where
    the real NYU frames of benchmarks/RESULTS.md have 2.5-3.5 m; 3.4 m with long views only, 3.1 m with
    half of them."""
    behind = int(rng.integers(2)) + (0 if lx >= lz else 2)      # walls 0, 1 face along x; 2, 3 along z
    along_len, across_len = (lz, lx) if behind < 2 else (lx, lz)
    along = rng.uniform(margin, along_len - margin) if along_len > 2 * margin else along_len / 2
    across = rng.uniform(margin, max(margin, min(across_len * 0.2, 1.2)))
    yaw = {0: math.pi / 2, 1: -math.pi / 2, 2: 0.0, 3: math.pi}[behind] + rng.uniform(-0.35, 0.35)
    return behind, along, across, yaw


def sample_scene(seed: int, photo_light: float = PHOTO_LIGHT, surfaces: float = PHOTO_SURFACES,
                 clutter: float = CLUTTER, long_views: float = LONG_VIEWS, doorways: float = DOORWAYS,
                 close_views: float = CLOSE_VIEWS) -> RoomScene:
    """The random room for `seed` (an int >= 0): size, camera, furniture, decals, materials, light.

    photo_light: the probability that the room is lit like a photo (`photo_lighting`); surfaces: the
    probability that its walls and floor are busy and darker (`photo_surfaces`). The geometry depends on
    neither. clutter: the probability that small things stand on its tables, seats and floor (`add_clutter`,
    clutter.py), which adds geometry. long_views: the probability that the camera stands near one of the
    room's short walls and looks along its length (`_long_view`), as a photographer shows a room. doorways:
    the probability that the room goes on beyond an opening in the wall the camera faces
    (`add_doorway`, doorways.py), which adds geometry. close_views: the probability that the camera stands
    0.9-1.8 m in front of the wall it faces (its own random stream, as for long views)."""
    rng = np.random.default_rng(seed)
    lx, lz = rng.uniform(2.0, 8.0), rng.uniform(2.0, 8.0)
    if max(lx, lz) < 3.0:   # very small rooms are rare
        lx = rng.uniform(3.0, 6.0)
    ly = rng.uniform(2.4, 3.2)

    # Camera: near one wall ("behind"), looking into the room.
    margin = 0.7
    behind = int(rng.integers(4))                  # which wall the camera stands in front of
    along_len, across_len = (lz, lx) if behind < 2 else (lx, lz)
    along = rng.uniform(margin, along_len - margin) if along_len > 2 * margin else along_len / 2
    across = rng.uniform(margin, max(margin, min(across_len * 0.45, 2.5)))
    height = rng.uniform(1.0, 1.7)
    yaw_into = {0: math.pi / 2, 1: -math.pi / 2, 2: 0.0, 3: math.pi}[behind]  # facing away from that wall
    yaw = yaw_into + rng.uniform(-0.6, 0.6)
    pitch = math.radians(rng.uniform(-25, 5))
    roll = math.radians(float(np.clip(rng.normal(0, 2.0), -5, 5)))
    if long_views > 0:
        view = np.random.default_rng([seed, 7])       # its own stream: the rest of the room is drawn as before
        if view.random() < long_views:
            behind, along, across, yaw = _long_view(view, lx, lz, margin)
    if close_views > 0:
        view = np.random.default_rng([seed, 8])       # its own stream, as for long views
        if view.random() < close_views:               # the wall the camera faces 0.9-1.8 m away
            across = max(margin, (lx if behind < 2 else lz) - view.uniform(0.9, 1.8))

    def camera_at(lx, lz):
        if behind == 0:
            pos = (across, height, along)              # wall x = 0 behind
        elif behind == 1:
            pos = (lx - across, height, along)         # wall x = lx behind
        elif behind == 2:
            pos = (along, height, across)              # wall z = 0 behind
        else:
            pos = (along, height, lz - across)         # wall z = lz behind
        return Camera(tuple(float(v) for v in pos), float(yaw), float(pitch), float(roll))

    camera = camera_at(lx, lz)
    # Guarantee depth <= MAX_DEPTH_M: shrink the room (away from the camera) until every corner is closer.
    while _camera_z_of_room_corners((lx, ly, lz), camera) > MAX_DEPTH_M - 0.2:
        if behind < 2:
            lx *= 0.92
        else:
            lz *= 0.92
        if behind in (0, 1):   # keep the far side walls away from the camera too
            lz = max(lz * 0.97, 2 * margin + 0.1)
            along = min(along, lz - margin)
        else:
            lx = max(lx * 0.97, 2 * margin + 0.1)
            along = min(along, lx - margin)
        camera = camera_at(lx, lz)
    size = (float(lx), float(ly), float(lz))
    cam_pos = np.asarray(camera.position_m)

    wall = _material(rng, "wall")
    walls = [wall] * 4
    if rng.random() < 0.3:                          # an accent wall
        walls[int(rng.integers(4))] = _material(rng, "wall")
    face_materials = [_material(rng, "floor"), _material(rng, "ceiling")] + walls

    # Decals: a door, windows, pictures, a rug. Doors reserve floor space in front of them.
    decals, reserved = [], []
    wall_len = {2: lz, 3: lz, 4: lx, 5: lx}

    def free_on_wall(face, s0, s1, t0, t1):
        return all(not (d.face == face and s0 < d.rect_m[2] + 0.1 and d.rect_m[0] < s1 + 0.1
                        and t0 < d.rect_m[3] + 0.1 and d.rect_m[1] < t1 + 0.1) for d in decals)

    for kind, count in (("door", int(rng.random() < 0.6)), ("window", int(rng.integers(0, 3))),
                        ("picture", int(rng.integers(0, 4)))):
        for _ in range(count):
            for _try in range(6):
                face = int(rng.integers(2, 6))
                length = wall_len[face]
                if kind == "door":
                    w, h, t0 = rng.uniform(0.75, 0.95), rng.uniform(1.95, 2.15), 0.0
                    mat = _material(rng, "wood") if rng.random() < 0.6 else _material(rng, "furniture")
                elif kind == "window":
                    w, h, t0 = rng.uniform(0.8, 1.8), rng.uniform(0.9, 1.4), rng.uniform(0.8, 1.0)
                    mat = Material("window", _jitter(rng, (0.85, 0.9, 1.0), 0.05), _jitter(rng, (0.9, 0.9, 0.88)),
                                   float(rng.uniform(0.4, 0.7)), glossy=True)
                else:
                    w, h = rng.uniform(0.3, 1.2), rng.uniform(0.3, 0.9)
                    t0 = rng.uniform(1.2, 1.8) - h / 2
                    mat = Material("picture", _pick(rng, _FURNITURE, 0.2), _pick(rng, _FURNITURE, 0.2),
                                   float(rng.uniform(0.05, 0.3)), glossy=bool(rng.random() < 0.3),
                                   offset=(float(rng.uniform(0, 50)), float(rng.uniform(0, 50))))
                if length < w + 0.3 or t0 + h > ly - 0.1:
                    continue
                s0 = rng.uniform(0.15, length - w - 0.15)
                if not free_on_wall(face, s0, s0 + w, t0, t0 + h):
                    continue
                decals.append(Decal(face, (float(s0), float(t0), float(s0 + w), float(t0 + h)), kind, mat))
                if kind == "door":   # keep the floor in front of the door clear
                    x0, x1 = {2: (0, 0.8), 3: (lx - 0.8, lx)}.get(face, (s0, s0 + w))
                    z0, z1 = {4: (0, 0.8), 5: (lz - 0.8, lz)}.get(face, (s0, s0 + w))
                    reserved.append((x0, x1, z0, z1))
                break
    if rng.random() < 0.4:
        w, d = rng.uniform(1.0, min(3.0, lx - 0.4)), rng.uniform(0.8, min(2.5, lz - 0.4))
        x0, z0 = rng.uniform(0.2, lx - w - 0.2), rng.uniform(0.2, lz - d - 0.2)
        rug = Material("rug", _pick(rng, _FABRICS, 0.15), _pick(rng, _FURNITURE, 0.15), float(rng.uniform(0.1, 0.3)),
                       offset=(float(rng.uniform(0, 50)), float(rng.uniform(0, 50))))
        decals.append(Decal(0, (float(x0), float(z0), float(x0 + w), float(z0 + d)), "rug", rug))

    # Furniture: against the walls, then free-standing. Keep clear of the camera and of each other.
    mats = _furniture_materials(rng)
    primitives, footprints = [], list(reserved)
    n_wall, n_free = int(rng.integers(2, 8)), int(rng.integers(0, 4))
    # Prefer the walls the camera looks at, and free-standing objects in front of it.
    fwd = np.array([math.sin(camera.yaw), math.cos(camera.yaw)])     # horizontal view direction (x, z)
    inward = {2: (1, 0), 3: (-1, 0), 4: (0, 1), 5: (0, -1)}
    wall_weight = np.array([1 + 3 * max(0.0, -float(np.dot(inward[f], fwd))) for f in (2, 3, 4, 5)])
    for i in range(n_wall + n_free):
        builder = _choose(rng, _WALL_OBJECTS if i < n_wall else _FREE_OBJECTS)
        if rng.random() < 0.5:   # a fresh material for every other object
            mats["furniture"] = _material(rng, "furniture")
        for _try in range(8):
            parts, (w, d) = builder(rng, mats)
            if i < n_wall:
                face = 2 + int(rng.choice(4, p=wall_weight / wall_weight.sum()))
                length = wall_len[face]
                if length < w + 0.1:
                    continue
                s = rng.uniform(w / 2 + 0.02, length - w / 2 - 0.02)
                gap = rng.uniform(0.0, 0.05)
                placed = _against_wall(parts, face, s, gap, lx, lz)
            else:
                r = 0.5 * math.hypot(w, d) + 0.05
                if lx < 2 * r + 0.1 or lz < 2 * r + 0.1:
                    continue
                dist, side = rng.uniform(1.3, 4.5), rng.uniform(-0.5, 0.5)
                x = cam_pos[0] + dist * (fwd[0] + side * fwd[1])
                z = cam_pos[2] + dist * (fwd[1] - side * fwd[0])
                pos = (float(np.clip(x, r, lx - r)), 0, float(np.clip(z, r, lz - r)))
                placed = _place(parts, pos, yaw=float(rng.uniform(0, math.pi)))
            fp = _footprint(placed)
            if fp[0] < -0.01 or fp[1] > lx + 0.01 or fp[2] < -0.01 or fp[3] > lz + 0.01:
                continue
            if any(_overlaps(fp, other) for other in footprints):
                continue
            if _distance_to_aabb(cam_pos, placed) < 0.75:
                continue
            if max(p.corners()[:, 1].max() for p in placed) > ly - 0.05:
                continue
            primitives += placed
            footprints.append(fp)
            break

    # the lamp hangs from the ceiling, away from the walls (a lamp close to a wall washes it out)
    light = (float(np.clip(rng.uniform(0.3, 0.7) * lx, min(0.9, lx / 2), max(lx - 0.9, lx / 2))), float(ly - 0.2),
             float(np.clip(rng.uniform(0.3, 0.7) * lz, min(0.9, lz / 2), max(lz - 0.9, lz / 2))))
    scene = photo_lighting(RoomScene(
        seed=int(seed), size_m=size, camera=camera, face_materials=face_materials, primitives=primitives,
        decals=decals, light_m=light, light_power=float(rng.uniform(2.0, 5.0)), ambient=float(rng.uniform(0.2, 0.45)),
        exposure=float(rng.uniform(0.8, 1.25)), white_balance=_jitter(rng, (1.0, 0.97, 0.92), 0.05),
        noise_std=float(rng.uniform(0.004, 0.02)), kinect_range_m=float(rng.uniform(6.0, 9.5))), photo_light)
    return add_doorway(add_clutter(photo_surfaces(scene, surfaces), clutter), doorways)
