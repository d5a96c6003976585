"""Variations of a sampled room's look: lit like a photo, busier surfaces, random textures.

Each is a pure function of the scene's seed, with its own random stream, and changes the appearance
only: the geometry, depth and normals stay as sampled.

- `photo_lighting` (in `PHOTO_LIGHT`, 80 %, of the rooms; `sample_scene` applies it): the room is lit
  and tone-mapped like a photo: deep shadows away from the lamp, exposure that varies by frame, a steep
  tone curve that clips shadows and highlights. Without it the renders are brighter and flatter than any
  photo, and a network trained on them reads real photos as near.
- `photo_surfaces` (off by default, `PHOTO_SURFACES`; `sample_scene`'s `surfaces`): busy, darker walls
  and floors (brick, concrete blocks, wooden panels, stained concrete).
- `randomize_textures` (`render_room`'s `random_textures`): domain randomisation, random blotches in
  place of the materials.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .furniture import _WOODS, _jitter, _pick
from .scene import Material, RoomScene


def randomize_textures(scene: RoomScene, p: float) -> RoomScene:
    """Domain randomisation: each surface's material (room faces, furniture) is, with probability `p`,
    replaced by random blotches of two random colours at a random scale (1 cm to 1 m) and contrast.

    Textures then tell nothing about depth, so a network trained on such rooms must read it from the
    geometry (perspective, occlusion, where things touch the floor), which is what real photos share
    with the renders (Tobin et al. 2017 trained detectors on simulation this way). A pure function of
    the scene's seed; the geometry, depth and normals do not change."""
    if p <= 0:
        return scene
    rng = np.random.default_rng([scene.seed, 3])
    new = {}

    def swap(m: Material) -> Material:
        if id(m) not in new:
            new[id(m)] = m
            if rng.random() < p and m.kind not in ("window",):
                c1, c2 = (tuple(float(c) for c in rng.uniform(0.03, 0.95, 3)) for _ in range(2))
                new[id(m)] = Material("random", c1, c2, float(np.exp(rng.uniform(np.log(0.01), np.log(1.0)))),
                                      glossy=m.glossy, offset=(float(rng.uniform(0, 50)), float(rng.uniform(0, 50))),
                                      period_m=float(rng.uniform(1.0, 6.0)))
        return new[id(m)]

    return replace(scene, face_materials=[swap(m) for m in scene.face_materials],
                   primitives=[replace(q, material=swap(q.material)) for q in scene.primitives])


def photo_lighting(scene: RoomScene, p: float) -> RoomScene:
    """With probability `p`, light the room the way a phone or Kinect photo of a real room looks: a
    weaker ambient term (x0.15-0.5: deep shadows away from the lamp), a lamp of x0.8-2 its power,
    exposure that varies from frame to frame (x0.35-1.2), and a tone curve 1.2-2.2x steeper around
    mid-gray that clips shadows and highlights.

    Without it the renders are brighter and flatter than photos: over 40 rooms at 240x320 the mean gray
    level is 0.61 and its standard deviation in a frame 0.14, against 0.47 and 0.27 on twelve NYU photos
    (gray in 0..1). With it: 0.47 and 0.21. A network trained on the flat renders reads the contrast of a
    real photo as nearness (benchmarks/sim_to_real/photometric_probe.py); with the default share, lesson 03's recipe
    went from delta1 0.13 to 0.23 on four real NYU frames (benchmarks/RESULTS.md). A pure function of
    the scene's seed; depth and normals do not change."""
    if p <= 0:
        return scene
    rng = np.random.default_rng([scene.seed, 4])
    if rng.random() >= p:
        return scene
    return replace(scene, ambient=scene.ambient * float(rng.uniform(0.15, 0.5)),
                   light_power=scene.light_power * float(rng.uniform(0.8, 2.0)),
                   exposure=scene.exposure * math.exp(float(rng.uniform(math.log(0.35), math.log(1.2)))),
                   contrast=float(rng.uniform(1.2, 2.2)))


_BRICKS = [(0.55, 0.27, 0.19), (0.62, 0.36, 0.26), (0.45, 0.22, 0.16), (0.72, 0.68, 0.62), (0.50, 0.45, 0.40)]
_DARK_PAINTS = [(0.35, 0.30, 0.25), (0.28, 0.30, 0.32), (0.45, 0.40, 0.32), (0.25, 0.22, 0.20), (0.40, 0.42, 0.38)]


def _rough_wall(rng) -> Material:
    """A busy, often dark wall: brick, concrete blocks, wooden panels or stained concrete."""
    offset = (float(rng.uniform(0, 50)), float(rng.uniform(0, 50)))
    r = rng.random()
    if r < 0.35:   # brick: about 0.22 x 0.07 m, sometimes painted
        return Material("brick", _pick(rng, _BRICKS, 0.06), _jitter(rng, (0.62, 0.60, 0.56), 0.12),
                        float(rng.uniform(0.19, 0.25)), offset=offset, period_m=float(rng.uniform(0.065, 0.09)))
    if r < 0.55:   # concrete blocks: 0.4 x 0.2 m
        gray = float(rng.uniform(0.35, 0.7))
        return Material("brick", _jitter(rng, (gray, gray, gray * 0.96), 0.04), _jitter(rng, (0.55, 0.55, 0.53), 0.1),
                        float(rng.uniform(0.38, 0.42)), offset=offset, period_m=float(rng.uniform(0.19, 0.21)))
    if r < 0.8:    # upright wooden panels
        return Material("wood", _pick(rng, _WOODS), _pick(rng, _WOODS), float(rng.uniform(0.08, 0.3)), rotate=True,
                        offset=offset)
    c1 = _pick(rng, _DARK_PAINTS, 0.05)   # stained concrete or dirty paint
    return Material("random", c1, _jitter(rng, c1, 0.15), float(rng.uniform(0.1, 0.8)), offset=offset,
                    period_m=float(rng.uniform(1.0, 2.5)))


def photo_surfaces(scene: RoomScene, p: float) -> RoomScene:
    """With probability `p`, give the room the busy, darker surfaces of real rooms: walls of brick,
    concrete blocks, wooden panels or stained concrete (each wall its own with probability 0.4), and
    sometimes (0.4) a bare concrete floor.

    In the plain rooms walls and floors are almost uniform and all the detail belongs to furniture near
    the camera, so a network learns to read detail as nearness; real rooms are busy everywhere
    (benchmarks/sim_to_real/photometric_probe.py). Off by default (`PHOTO_SURFACES`): with half the rooms so and a
    colour jitter of 0.5, lesson 03's recipe scored 0.42 on four real NYU frames over three training
    seeds (0.35 without), within the seeds' spread, while the median-scaled delta1, the shape of the
    depth, fell from 0.71 to 0.62 on every seed (benchmarks/RESULTS.md). A pure function of the
    scene's seed (its own random stream); the geometry, depth and normals do not change."""
    if p <= 0:
        return scene
    rng = np.random.default_rng([scene.seed, 5])
    if rng.random() >= p:
        return scene
    room_wall = _rough_wall(rng)
    walls = [(_rough_wall(rng) if rng.random() < 0.4 else room_wall) for _ in range(4)]
    floor = scene.face_materials[0]
    if rng.random() < 0.4:
        gray = float(rng.uniform(0.3, 0.6))
        c1 = _jitter(rng, (gray, gray * 0.98, gray * 0.94), 0.04)
        floor = Material("random", c1, _jitter(rng, c1, 0.12), float(rng.uniform(0.2, 1.0)),
                         offset=(float(rng.uniform(0, 50)), float(rng.uniform(0, 50))),
                         period_m=float(rng.uniform(1.0, 2.0)))
    return replace(scene, face_materials=[floor, scene.face_materials[1]] + walls)
