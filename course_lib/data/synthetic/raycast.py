"""Ray casting (step 2 of the pipeline): the depth and the primitive seen at every pixel.

One ray per pixel through the NYU camera (`course_lib.geometry.nyu_intrinsics`, scaled to the image
size). Every ray is intersected with every primitive at once, in vectorised float32 numpy: the room's
six planes (the ray leaves the room box through the nearest one), boxes (slab method), vertical
cylinders (a quadratic plus the flat caps) and spheres (a quadratic). Only pixels inside a primitive's
projected bounding rectangle are tested (`_screen_rect`). The nearest hit wins, and its ray parameter
*is* the depth, because the camera-frame ray direction is ((u-cx)/fx, (v-cy)/fy, 1).

Only IEEE-exact arithmetic (+, -, *, /, sqrt) is used on the float32 arrays, so the same seed gives the
same depth on any machine.
"""
from __future__ import annotations

import math

import numpy as np

from .scene import _F32, NUM_FACES, Camera, Primitive, RoomScene


def _screen_rect(prim: Primitive, position, Rt, K, height, width):
    """Rows/columns (v0, v1, u0, u1) that can see `prim`, or None if it is behind the camera."""
    cam = (prim.corners() - position) @ Rt.T        # (8, 3) camera coordinates
    z = cam[:, 2]
    if (z <= 0.01).all():
        return None
    if (z <= 0.01).any():
        return 0, height, 0, width
    u = K[0, 0] * cam[:, 0] / z + K[0, 2]
    v = K[1, 1] * cam[:, 1] / z + K[1, 2]
    u0, u1 = max(int(math.floor(u.min())) - 1, 0), min(int(math.ceil(u.max())) + 2, width)
    v0, v1 = max(int(math.floor(v.min())) - 1, 0), min(int(math.ceil(v.max())) + 2, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _hit_box(p: Primitive, o, dx, dy, dz, ix, iy, iz):
    """Nearest entry distance along the rays (inf where missed); slab method in the box's frame."""
    cx, cy, cz = p.center_m
    hx, hy, hz = p.half_m
    ox, oy, oz = o[0] - cx, o[1] - cy, o[2] - cz
    if p.yaw != 0.0:   # rotate the rays into the box's frame
        c, s = _F32(math.cos(p.yaw)), _F32(math.sin(p.yaw))
        ox, oz = float(c * ox - s * oz), float(s * ox + c * oz)
        dx, dz = c * dx - s * dz, s * dx + c * dz
        ix, iz = 1 / dx, 1 / dz
    tx0, tx1 = (-hx - ox) * ix, (hx - ox) * ix
    ty0, ty1 = (-hy - oy) * iy, (hy - oy) * iy
    tz0, tz1 = (-hz - oz) * iz, (hz - oz) * iz
    near = np.maximum(np.maximum(np.minimum(tx0, tx1), np.minimum(ty0, ty1)), np.minimum(tz0, tz1))
    far = np.minimum(np.minimum(np.maximum(tx0, tx1), np.maximum(ty0, ty1)), np.maximum(tz0, tz1))
    near[(near > far) | (near <= 0)] = np.inf
    return near


def _hit_cylinder(p: Primitive, o, dx, dy, dz, iy, dxz2):
    """Nearest hit with a vertical cylinder: the side (a quadratic in x, z) or the top/bottom caps."""
    cx, cy, cz = p.center_m
    r, hh = p.half_m[0], p.half_m[1]
    ox, oy, oz = o[0] - cx, o[1] - cy, o[2] - cz
    b = ox * dx + oz * dz                          # half of the usual b
    c = ox * ox + oz * oz - r * r                  # > 0: the camera is outside
    disc = b * b - dxz2 * c
    miss = disc < 0
    t = (-b - np.sqrt(np.maximum(disc, 0))) / dxz2
    y = oy + t * dy
    t[miss | (t <= 0) | (y < -hh) | (y > hh)] = np.inf
    cap_y = hh if oy > hh else (-hh if oy < -hh else None)
    if cap_y is not None:                          # the camera sees the top (or bottom) disc
        tc = (cap_y - oy) * iy
        xc, zc = ox + tc * dx, oz + tc * dz
        cap = (tc > 0) & (xc * xc + zc * zc <= r * r)
        t = np.where(cap & (tc < t), tc, t)
    return t


def _hit_sphere(p: Primitive, o, dx, dy, dz, dd):
    cx, cy, cz = p.center_m
    r = p.half_m[0]
    ox, oy, oz = o[0] - cx, o[1] - cy, o[2] - cz
    b = ox * dx + oy * dy + oz * dz
    c = ox * ox + oy * oy + oz * oz - r * r
    disc = b * b - dd * c
    t = (-b - np.sqrt(np.maximum(disc, 0))) / dd
    t[(disc < 0) | (t <= 0)] = np.inf
    return t


def _rays(camera: Camera, K, height, width):
    """Room-frame ray directions (3 arrays (H, W) float32) whose camera-frame z component is 1."""
    R = camera.rotation().astype(_F32)
    a = ((np.arange(width, dtype=_F32) - K[0, 2]) / K[0, 0]).astype(_F32)    # (W,) x / z
    b = ((np.arange(height, dtype=_F32) - K[1, 2]) / K[1, 1]).astype(_F32)   # (H,) y / z
    d = [R[i, 0] * a[None, :] + (R[i, 1] * b + R[i, 2])[:, None] for i in range(3)]
    for di in d:   # no exact zeros: the slab method divides by them
        di[di == 0] = _F32(1e-12)
    return R, d


def _cast(scene: RoomScene, K, height, width):
    """Depth (H, W) and primitive id (H, W) of the nearest surface, plus the rays."""
    R, (dx, dy, dz) = _rays(scene.camera, K, height, width)
    position = np.asarray(scene.camera.position_m, dtype=np.float64)
    o = tuple(float(v) for v in position)           # Python floats keep the arrays float32
    ix, iy, iz = 1 / dx, 1 / dy, 1 / dz
    lx, ly, lz = scene.size_m
    # The room: from inside, the ray leaves through the nearest of the three planes it runs towards.
    tx = np.maximum((0 - o[0]) * ix, (lx - o[0]) * ix)
    ty = np.maximum((0 - o[1]) * iy, (ly - o[1]) * iy)
    tz = np.maximum((0 - o[2]) * iz, (lz - o[2]) * iz)
    depth = np.minimum(np.minimum(tx, ty), tz)
    ids = np.where(tx == depth, np.where(dx > 0, 3, 2),
                   np.where(ty == depth, np.where(dy > 0, 1, 0), np.where(dz > 0, 5, 4))).astype(np.uint8)
    dxz2 = dx * dx + dz * dz                        # shared by every cylinder
    dd = dxz2 + dy * dy                             # shared by every sphere
    Rt = R.T.astype(np.float64)
    for k, p in enumerate(scene.primitives):
        rect = _screen_rect(p, position, Rt, K, height, width)
        if rect is None:
            continue
        sl = np.s_[rect[0]:rect[1], rect[2]:rect[3]]
        if p.kind == "box":
            t = _hit_box(p, o, dx[sl], dy[sl], dz[sl], ix[sl], iy[sl], iz[sl])
        elif p.kind == "cylinder":
            t = _hit_cylinder(p, o, dx[sl], dy[sl], dz[sl], iy[sl], dxz2[sl])
        else:
            t = _hit_sphere(p, o, dx[sl], dy[sl], dz[sl], dd[sl])
        closer = t < depth[sl]
        depth[sl][closer] = t[closer]
        ids[sl][closer] = NUM_FACES + k
    return depth, ids, R, (dx, dy, dz)
