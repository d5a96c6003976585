"""A frame, all steps together: `render_scene(scene)` and `render_room(seed)`.

`render_scene` casts the rays (raycast.py), gets normals, albedo and masks at the hit points
(shading.py), and shades: Lambertian light from the lamp plus ambient light, times the occlusion, a
highlight on glossy materials, then the camera: white balance, exposure, soft highlights, vignetting,
gamma, the tone curve, sensor noise, 8 bits. With `raw_depth=True` it adds the Kinect's
raw depth (kinect.py). `render_room(seed)` samples the scene (sampling.py), applies the variations
(variations.py) and renders it.
"""
from __future__ import annotations

import numpy as np

from course_lib.geometry import nyu_intrinsics

from .kinect import _kinect
from .raycast import _cast
from .sampling import sample_scene
from .scene import _F32, CLOSE_VIEWS, CLUTTER, DOORWAYS, LONG_VIEWS, PHOTO_LIGHT, PHOTO_SURFACES, RoomScene
from .shading import _floor_shadows, _occlusion, _surface
from .variations import randomize_textures


def render_scene(scene: RoomScene, height: int = 240, width: int = 320, raw_depth: bool = False) -> dict:
    """Ray-cast `scene` at `height` x `width`: {"rgb", "depth", "normals", "K"[, "raw_depth"]} (see render_room)."""
    if height < 8 or width < 8:
        raise ValueError(f"render_scene: image size {height}x{width} is too small; use at least 8x8 pixels")
    K = nyu_intrinsics(height, width)
    depth, ids, R, (dx, dy, dz) = _cast(scene, K, height, width)
    ox, oy, oz = (_F32(v) for v in scene.camera.position_m)
    px, py, pz = ox + depth * dx, oy + depth * dy, oz + depth * dz           # hit points (H, W)
    n = height * width
    (nx, ny, nz), albedo, glossy, no_ir, emissive = _surface(
        scene, ids.reshape(-1), px.reshape(-1), py.reshape(-1), pz.reshape(-1))
    dxf, dyf, dzf = dx.reshape(-1), dy.reshape(-1), dz.reshape(-1)
    pxf, pyf, pzf = px.reshape(-1), py.reshape(-1), pz.reshape(-1)

    # Shading: a lamp (Lambert, soft fall-off) + hemispherical ambient, times occlusion.
    lxp, lyp, lzp = (_F32(v) for v in scene.light_m)
    vx, vy, vz = lxp - pxf, lyp - pyf, lzp - pzf
    dist2 = vx * vx + vy * vy + vz * vz
    inv_dist = 1 / np.sqrt(dist2)
    ndotl = np.maximum((nx * vx + ny * vy + nz * vz) * inv_dist, 0)
    falloff = _F32(scene.light_power) / (1 + dist2 * _F32(1 / 4.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        ndotl *= _floor_shadows(scene, ids, px, py, pz, K, R).reshape(-1)
    ambient = _F32(scene.ambient) * (_F32(0.8) + _F32(0.2) * ny)
    if scene.beyond:   # past a doorway (add_doorway): lamp and ambient light times the space's own factor
        axis, coordinate, sign, factor = scene.beyond
        past = ((pxf, pyf, pzf)[axis] - _F32(coordinate)) * _F32(sign) > 0
        falloff = np.where(past, falloff * _F32(factor), falloff)
        ambient = np.where(past, ambient * _F32(factor), ambient)
    shade = ambient + ndotl * falloff * _F32(0.6)
    shade *= _occlusion(scene, ids, px, py, pz, K, R).reshape(-1)
    color = albedo * shade
    view_len = 1 / np.sqrt(dxf * dxf + dyf * dyf + dzf * dzf)
    g = np.flatnonzero(glossy)
    if len(g):   # a highlight: Blinn-Phong with exponent 32, by repeated squaring
        hx = vx[g] * inv_dist[g] - dxf[g] * view_len[g]
        hy = vy[g] * inv_dist[g] - dyf[g] * view_len[g]
        hz = vz[g] * inv_dist[g] - dzf[g] * view_len[g]
        ndoth = np.maximum((nx[g] * hx + ny[g] * hy + nz[g] * hz) / np.sqrt(hx * hx + hy * hy + hz * hz), 0)
        for _ in range(5):
            ndoth = ndoth * ndoth
        color[:, g] += ndoth * falloff[g] * _F32(0.35)
    e = np.flatnonzero(emissive)
    if len(e):
        color[:, e] = albedo[:, e] * _F32(1.1)
    color *= np.asarray(scene.white_balance, _F32)[:, None] * _F32(scene.exposure)
    color = color * _F32(1.3) / (1 + _F32(0.3) * color)     # soft highlights instead of clipping

    # Camera: vignetting, gamma 2 (sqrt: exact everywhere), sensor noise, 8 bits.
    a2 = ((np.arange(width, dtype=_F32) - K[0, 2]) / K[0, 0]) ** 2
    b2 = ((np.arange(height, dtype=_F32) - K[1, 2]) / K[1, 1]) ** 2
    vignette = (1 - _F32(0.25) * (a2[None, :] + b2[:, None])).reshape(-1) * _F32(255)
    # noise: a sum of two random bytes is a cheap, triangular-distributed noise with std 104.5
    noise_rng = np.random.default_rng([scene.seed, 1])
    noise = np.frombuffer(noise_rng.bytes(6 * n), dtype=np.uint8).reshape(2, 3, n)
    noise_scale = _F32(255 * scene.noise_std / 104.5)
    rgb = np.empty((height, width, 3), np.uint8)
    contrast = _F32(scene.contrast)
    for i in range(3):
        tone = np.sqrt(np.clip(color[i], 0, 1))
        if scene.contrast != 1.0:       # a camera's S-shaped tone curve: steeper mid-tones, clipped ends
            tone = np.clip((tone - _F32(0.5)) * contrast + _F32(0.5), 0, 1)
        noisy = tone * vignette
        noisy += (noise[0, i].astype(_F32) + noise[1, i] - _F32(255)) * noise_scale + _F32(0.5)
        rgb[..., i] = np.clip(noisy, 0, 255).astype(np.int32).reshape(height, width)

    # Normals into the camera frame: n_cam = R^T n_room, written out element by element.
    normals = np.empty((height, width, 3), _F32)
    for i in range(3):
        normals[..., i] = (R[0, i] * nx + R[1, i] * ny + R[2, i] * nz).reshape(height, width)
    out = {"rgb": rgb, "depth": depth, "normals": normals, "K": K}
    if raw_depth:
        cos_view = np.abs(nx * dxf + ny * dyf + nz * dzf) * view_len        # |cos| of the normal-ray angle
        lum = albedo[0] * _F32(0.3) + albedo[1] * _F32(0.55) + albedo[2] * _F32(0.15)
        out["raw_depth"] = _kinect(scene, depth, (lum < 0.07) | no_ir, glossy, cos_view)
    return out


def render_room(seed: int, height: int = 240, width: int = 320, raw_depth: bool = False,
                return_scene: bool = False, random_textures: float = 0.0, photo_light: float = PHOTO_LIGHT,
                surfaces: float = PHOTO_SURFACES, clutter: float = CLUTTER, long_views: float = LONG_VIEWS,
                doorways: float = DOORWAYS, close_views: float = CLOSE_VIEWS) -> dict:
    """One synthetic room frame, the same for the same seed on any machine.

    Returns a dict: "rgb" (H, W, 3) uint8; "depth" (H, W) float32 metres (exact, no holes); "normals"
    (H, W, 3) float32 unit vectors in camera coordinates (x right, y down, z forward), facing the
    camera; "K" (3, 3) float32 intrinsics (NYU's, scaled to H x W); with `raw_depth=True` also
    "raw_depth" (H, W) float32 metres, 0 = no measurement (Kinect-like holes; elsewhere the depth
    quantised in disparity, within 0.003 * depth**2 + 1e-3 metres of "depth"); with `return_scene=True`
    also "scene", the RoomScene it was rendered from. random_textures: the probability that a surface
    gets a random texture (`randomize_textures`; default 0: the room as sampled). photo_light: the
    probability that the room is lit and tone-mapped like a photo (`photo_lighting`; default
    `PHOTO_LIGHT`, 0.8). surfaces: the probability that its walls and floor are busy and darker
    (`photo_surfaces`; default `PHOTO_SURFACES`, 0: off). clutter: the probability that small things
    stand on its tables, seats and floor (`add_clutter`; default `CLUTTER`, 0: off). long_views: the
    probability that the camera looks along the room from near a short wall (default `LONG_VIEWS`, 0:
    off). doorways: the probability that the room goes on beyond an opening in the wall the camera
    faces (`add_doorway`; default `DOORWAYS`, 1: every room). `doorways=0` renders the rooms of renderer
    version 2, `photo_light=0, doorways=0` those of version 1. close_views: the probability that the
    camera stands 0.9-1.8 m in front of the wall it faces (default `CLOSE_VIEWS`, 0: off).
    Introduced in lesson 01.
    """
    scene = sample_scene(seed, photo_light, surfaces, clutter, long_views, doorways, close_views)
    scene = randomize_textures(scene, random_textures)
    out = render_scene(scene, height, width, raw_depth=raw_depth)
    if return_scene:
        out["scene"] = scene
    return out
