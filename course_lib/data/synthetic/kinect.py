"""Raw depth (step 4 of the pipeline, with `raw_depth=True`): the exact depth as a Kinect would deliver it.

Holes (0) at depth discontinuities (widened by the projector's shadow), beyond a per-scene range, on
dark, glossy or glass surfaces and at grazing angles, and a few random speckles; the remaining values
quantised like the Kinect's disparity (an error of about 0.003 * depth**2 metres).
"""
from __future__ import annotations

import numpy as np

from .scene import _F32, KINECT_FOCAL_BASELINE, RoomScene


def _kinect(scene: RoomScene, depth, no_return, glossy, cos_view):
    """Depth as a Kinect would measure it: quantised disparity, and holes (0) where it cannot.

    no_return: (N,) surfaces that send no IR back (dark, glass); glossy: (N,) shiny surfaces, which
    fail at oblique angles; cos_view: (N,) |cos| of the angle between normal and ray."""
    h, w = depth.shape
    rng = np.random.default_rng([scene.seed, 2])
    # Disparity in 1/8 pixel steps: depth error about 0.0029 * depth**2 metres.
    steps = np.round(_F32(8 * KINECT_FOCAL_BASELINE) / depth)
    raw = _F32(8 * KINECT_FOCAL_BASELINE) / steps
    hole = no_return | (cos_view < 0.15) | (glossy & (cos_view < 0.3))    # grazing or shiny
    hole = hole.reshape(h, w) | (depth > _F32(scene.kinect_range_m))
    # depth discontinuities: a relative jump of more than 4 % between neighbours, widened to the
    # left by the shadow of the projector (which sits to the right of the Kinect's IR camera)
    jump_x = np.abs(depth[:, 1:] - depth[:, :-1]) > _F32(0.04) * np.minimum(depth[:, 1:], depth[:, :-1])
    jump_y = np.abs(depth[1:, :] - depth[:-1, :]) > _F32(0.04) * np.minimum(depth[1:, :], depth[:-1, :])
    edge = np.zeros((h, w), bool)
    edge[:, 1:] |= jump_x
    edge[:, :-1] |= jump_x
    edge[1:, :] |= jump_y
    edge[:-1, :] |= jump_y
    hole |= edge
    for k in range(1, 2 * max(1, w // 160) + 1):
        hole[:, :-k] |= edge[:, k:]
    hole |= np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w) == 0    # speckle, 1 pixel in 256
    return np.where(hole, _F32(0), raw)
