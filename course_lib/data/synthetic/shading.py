"""What the shading needs at each pixel (step 3 of the pipeline, second part), computed once per pixel
for the winning primitive only.

`_surface` gives the normal (analytic, from the winning primitive: box face, cylinder side or cap,
sphere), the albedo (textures.py; on the room's faces also the skirting board and the decals: doors,
windows, pictures, rugs) and masks: glossy, no infrared return (glass), emissive (windows).
`_occlusion` darkens near the room's edges and under furniture (a cheap stand-in for ambient occlusion
and contact shadows); `_floor_shadows` casts shadow rays from the floor to the lamp. `render_scene`
(render.py) turns these into the image.
"""
from __future__ import annotations

import math

import numpy as np

from .raycast import _screen_rect
from .scene import _F32, NUM_FACES, Primitive, RoomScene, face_coordinates
from .textures import _albedo

_FACE_NORMALS = {0: (0, 1, 0), 1: (0, -1, 0), 2: (1, 0, 0), 3: (-1, 0, 0), 4: (0, 0, 1), 5: (0, 0, -1)}


def _room_face(scene: RoomScene, k: int, x, y, z):
    """Albedo (3, n), glossy (n,), no-IR-return (n,) and emissive (n,) masks on room face k."""
    s, t = face_coordinates(k, x, y, z)
    mat = scene.face_materials[k]
    col = _albedo(mat, s, t)
    n = len(s)
    glossy = np.full(n, mat.glossy)
    no_ir, emissive = np.zeros(n, bool), np.zeros(n, bool)
    if k >= 2:   # skirting board along the floor
        skirt = t < 0.08
        col[:, skirt] = np.asarray(scene.face_materials[0].color, _F32)[:, None] * _F32(0.8)
    for dec in scene.decals:
        if dec.face != k:
            continue
        s0, t0, s1, t1 = dec.rect_m
        inside = (s >= s0) & (s <= s1) & (t >= t0) & (t <= t1)
        if not inside.any():
            continue
        si, ti = s[inside] - _F32(s0), t[inside] - _F32(t0)
        w, h = _F32(s1 - s0), _F32(t1 - t0)
        frame = np.minimum(np.minimum(si, w - si), np.minimum(ti, h - ti))   # distance to the border (m)
        c = _albedo(dec.material, si, ti)
        color2 = np.asarray(dec.material.color2, _F32)[:, None]
        if dec.kind == "door":
            c[:, frame < 0.05] *= _F32(0.6)
            c[:, (frame > 0.12) & (frame < 0.14)] *= _F32(0.75)
            knob = (np.abs(si - (w - 0.08)) < 0.03) & (np.abs(ti - 1.0) < 0.03)
            c[:, knob] = np.array([[0.75], [0.7], [0.5]], _F32)
        elif dec.kind == "window":
            bars = (frame < 0.06) | (np.abs(si - w / 2) < 0.025) | (np.abs(ti - h * 0.6) < 0.025)
            c[:, bars] = color2
            emissive[inside] = ~bars
            no_ir[inside] = ~bars               # glass: no IR return
        elif dec.kind == "picture":
            c[:, frame < 0.04] = color2 * _F32(0.4)
            glossy[inside] = dec.material.glossy
        elif dec.kind == "rug":
            c[:, (frame > 0.06) & (frame < 0.12)] = color2
        col[:, inside] = c
    return col, glossy, no_ir, emissive


def _solid(p: Primitive, x, y, z):
    """Room-frame normals (3, n) and albedo (3, n) of primitive p at its hit points x, y, z (n,)."""
    cx, cy, cz = (_F32(v) for v in p.center_m)
    qx, qy, qz = x - cx, y - cy, z - cz
    if p.kind == "box":
        c, sn = _F32(math.cos(p.yaw)), _F32(math.sin(p.yaw))
        bx, bz = c * qx - sn * qz, sn * qx + c * qz     # into the box's frame
        hx, hy, hz = (_F32(v) for v in p.half_m)
        rx, ry, rz = np.abs(bx) * (1 / hx), np.abs(qy) * (1 / hy), np.abs(bz) * (1 / hz)
        on_x = (rx >= ry) & (rx >= rz)                  # the face the point lies on
        on_y = ~on_x & (ry >= rz)
        on_z = ~(on_x | on_y)
        nbx = np.sign(bx) * on_x
        nby = np.sign(qy) * on_y
        nbz = np.sign(bz) * on_z
        normal = np.stack([c * nbx + sn * nbz, nby, c * nbz - sn * nbx])
        s = np.where(on_x, bz, bx) + (hx + hz)
        t = np.where(on_y, bz, qy) + hy
    elif p.kind == "cylinder":
        r, hh = _F32(p.half_m[0]), _F32(p.half_m[1])
        rad2 = qx * qx + qz * qz
        cap = (np.abs(qy) > hh * _F32(0.9999)) & (rad2 < r * r * _F32(0.9999))
        side = ~cap
        inv_r = side / np.sqrt(np.maximum(rad2, _F32(1e-12)))
        normal = np.stack([qx * inv_r, np.sign(qy) * cap, qz * inv_r])
        # arc length from the "diamond angle" (monotonic in the angle; no arctan needed)
        ratio = qx / (np.abs(qx) + np.abs(qz) + _F32(1e-12))
        diamond = np.where(qz >= 0, 1 - ratio, 3 + ratio)
        s = np.where(cap, qx, diamond * (r * _F32(math.pi / 2)))
        t = np.where(cap, qz, qy)
    else:
        inv_r = _F32(1.0 / p.half_m[0])
        normal = np.stack([qx * inv_r, qy * inv_r, qz * inv_r])
        s, t = qx + qz, qy
    return normal, _albedo(p.material, s, t)


def _surface(scene: RoomScene, ids, px, py, pz):
    """Per pixel (N = H*W): room-frame normals (3, N), albedo (3, N), and masks (N,): glossy, no IR
    return (glass: the Kinect sees nothing), emissive (windows).

    Pixels are sorted by primitive id once, so that each primitive's pixels are one contiguous slice."""
    n = ids.size
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=NUM_FACES + len(scene.primitives))
    starts = np.concatenate([[0], np.cumsum(counts)])
    xs, ys, zs = px.take(order), py.take(order), pz.take(order)
    normal = np.empty((3, n), _F32)
    albedo = np.empty((3, n), _F32)
    glossy, no_ir, emissive = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for k in np.flatnonzero(counts):
        sl = slice(starts[k], starts[k + 1])
        if k < NUM_FACES:
            normal[:, sl] = np.asarray(_FACE_NORMALS[k], _F32)[:, None]
            albedo[:, sl], glossy[sl], no_ir[sl], emissive[sl] = _room_face(scene, k, xs[sl], ys[sl], zs[sl])
        else:
            p = scene.primitives[k - NUM_FACES]
            normal[:, sl], albedo[:, sl] = _solid(p, xs[sl], ys[sl], zs[sl])
            glossy[sl] = p.material.glossy
    inverse = np.empty_like(order)      # back to image order
    inverse[order] = np.arange(n, dtype=order.dtype)
    return (normal.take(inverse, axis=1), albedo.take(inverse, axis=1), glossy.take(inverse),
            no_ir.take(inverse), emissive.take(inverse))


def _occlusion(scene: RoomScene, ids, px, py, pz, K, R):
    """Darkening near the room's edges and around furniture on the floor, (H, W) float32 in about 0.4..1."""
    lx, ly, lz = (_F32(v) for v in scene.size_m)
    ax = np.minimum(px, lx - px)                        # distance to the nearest x wall, and so on
    ay = np.minimum(py, ly - py)
    az = np.minimum(pz, lz - pz)
    lo = np.minimum(np.minimum(ax, ay), az)
    hi = np.maximum(np.maximum(ax, ay), az)
    edge = (ax + ay + az - lo - hi) * _F32(1 / 0.35)     # middle one: distance to the nearest room edge
    ao = 1 - _F32(0.35) / (1 + edge * edge)
    near = lo * _F32(1 / 0.15)                           # objects: darker close to the floor and walls
    ao *= 1 - (ids >= NUM_FACES) * (_F32(0.25) / (1 + near * near))
    # Soft shadows on the floor around the footprint of everything standing low; only the pixels of
    # the shadow's projected rectangle are touched.
    h, w = ids.shape
    floor = ids == 0
    o = np.asarray(scene.camera.position_m, np.float64)
    for p in scene.primitives:
        corners = p.corners()
        bottom = float(corners[:, 1].min())
        if bottom > 0.02 and p.label != "table":      # only what stands on the floor, and table tops
            continue
        spread = 0.08 + 0.4 * bottom
        x0, x1 = corners[:, 0].min(), corners[:, 0].max()
        z0, z1 = corners[:, 2].min(), corners[:, 2].max()
        reach = 2 * spread
        area = Primitive("box", ((x0 + x1) / 2, 0.0, (z0 + z1) / 2), ((x1 - x0) / 2 + reach, 0.0, (z1 - z0) / 2 + reach),
                         None)
        rect = _screen_rect(area, o, R.T.astype(np.float64), K, h, w)
        if rect is None:
            continue
        sl = np.s_[rect[0]:rect[1], rect[2]:rect[3]]
        fx, fz = px[sl], pz[sl]
        gx = np.maximum(np.maximum(_F32(x0) - fx, fx - _F32(x1)), 0)
        gz = np.maximum(np.maximum(_F32(z0) - fz, fz - _F32(z1)), 0)
        dist2 = (gx * gx + gz * gz) * _F32(4 / spread ** 2)
        ao[sl] *= 1 - floor[sl] * (_F32(0.45 / (1 + 2 * bottom)) / (1 + dist2))
    return ao


def _floor_shadows(scene: RoomScene, ids, px, py, pz, K, R):
    """1 where a floor pixel sees the lamp, 0 where a solid is in the way, (H, W) float32.

    A shadow ray runs from each floor point P to the lamp L: P + t (L - P), 0 < t < 1. Only the pixels
    inside the screen rectangle of the primitive's shadow (its corners projected from the lamp onto the
    floor) are tested, and only floor pixels count."""
    h, w = ids.shape
    lit = np.ones((h, w), _F32)
    floor = ids == 0
    lamp = np.asarray(scene.light_m, np.float64)
    position = np.asarray(scene.camera.position_m, np.float64)
    Rt = R.T.astype(np.float64)
    rows, cols = np.flatnonzero(floor.any(1)), np.flatnonzero(floor.any(0))
    if len(rows) == 0:
        return lit
    for p in scene.primitives:
        if p.half_m[0] < 0.04 and p.half_m[-1] < 0.04:     # legs: thin shadows, not worth the time
            continue
        corners = p.corners()
        # where the lamp projects the corners onto the floor (capped for corners close to lamp height)
        reach = np.minimum(lamp[1] / np.maximum(lamp[1] - corners[:, 1], 1e-3), 6.0)[:, None]
        shadow = lamp + (corners - lamp) * reach
        lo = np.minimum(shadow.min(0), corners.min(0))
        hi = np.maximum(shadow.max(0), corners.max(0))
        area = Primitive("box", tuple((lo + hi) / 2 * [1, 0, 1]), tuple((hi - lo) / 2 * [1, 0, 1] + 0.02), None)
        rect = _screen_rect(area, position, Rt, K, h, w)
        if rect is None:
            continue
        v0, v1 = max(rect[0], rows[0]), min(rect[1], rows[-1] + 1)      # only where there is floor
        u0, u1 = max(rect[2], cols[0]), min(rect[3], cols[-1] + 1)
        if v0 >= v1 or u0 >= u1:
            continue
        sl = np.s_[v0:v1, u0:u1]
        cx, cy, cz = (float(v) for v in p.center_m)
        ox, oy, oz = px[sl] - _F32(cx), py[sl] - _F32(cy), pz[sl] - _F32(cz)     # P relative to the solid
        dx, dy, dz = _F32(lamp[0]) - px[sl], _F32(lamp[1]) - py[sl], _F32(lamp[2]) - pz[sl]
        if p.kind == "box":
            if p.yaw != 0.0:
                c, s = _F32(math.cos(p.yaw)), _F32(math.sin(p.yaw))
                ox, oz = c * ox - s * oz, s * ox + c * oz
                dx, dz = c * dx - s * dz, s * dx + c * dz
            near, far = None, None
            for o_, d_, half in ((ox, dx, p.half_m[0]), (oy, dy, p.half_m[1]), (oz, dz, p.half_m[2])):
                inv = 1 / d_          # d = 0 gives inf (and NaN comparisons: not blocked)
                t0, t1 = (-half - o_) * inv, (half - o_) * inv
                lo_t, hi_t = np.minimum(t0, t1), np.maximum(t0, t1)
                near = lo_t if near is None else np.maximum(near, lo_t)
                far = hi_t if far is None else np.minimum(far, hi_t)
        elif p.kind == "cylinder":
            r, hh = p.half_m[0], p.half_m[1]
            a = dx * dx + dz * dz
            b = ox * dx + oz * dz
            disc = b * b - a * (ox * ox + oz * oz - r * r)
            root = np.sqrt(np.maximum(disc, 0))
            inv_a = 1 / np.maximum(a, _F32(1e-12))
            near, far = (-b - root) * inv_a, (-b + root) * inv_a
            far[disc < 0] = -1
            inv = 1 / dy                                            # dy > 0: the lamp is above
            near = np.maximum(near, np.minimum((-hh - oy) * inv, (hh - oy) * inv))
            far = np.minimum(far, np.maximum((-hh - oy) * inv, (hh - oy) * inv))
        else:
            r = p.half_m[0]
            a = dx * dx + dy * dy + dz * dz
            b = ox * dx + oy * dy + oz * dz
            disc = b * b - a * (ox * ox + oy * oy + oz * oz - r * r)
            root = np.sqrt(np.maximum(disc, 0))
            near, far = (-b - root) / a, (-b + root) / a
            far[disc < 0] = -1
        blocked = (near < far) & (far > 0) & (near < 1) & floor[sl]
        lit[sl][blocked] = 0
    return lit
