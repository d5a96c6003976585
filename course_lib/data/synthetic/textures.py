"""Procedural textures (step 3 of the pipeline, first part): the albedo of a surface point.

Textures are functions of surface coordinates (s, t) in metres, evaluated only on the pixels that need
them: wood planks, tiles, paint, wallpaper stripes, fabric, book spines, brick, pictures, windows, and
the random blotches of domain randomisation. Each material has a random scale, so texture shrinks with
distance as in a photograph but its size alone does not give the depth away.

Noise comes from tables made once at import from a fixed seed (`_NOISE`, and `_NOISE_TEX` baked from
it) and read with one gather per pixel: no transcendental function is evaluated on an array, so the
textures are the same on any machine.
"""
from __future__ import annotations

import numpy as np

from .scene import _F32, Material

# A fixed table of random values for value noise and per-cell hashes (made once, the same everywhere).
_NOISE = np.random.default_rng(20240517).random((256, 256), dtype=np.float32)


def _bake_noise(size: int = 512, cell: int = 16, octaves: int = 3) -> np.ndarray:
    """A tileable (size, size) texture of smooth value noise (3 octaves, 0..1), made once at import.

    Looking it up (one gather per pixel) is much cheaper than interpolating lattice noise per pixel."""
    texel = np.arange(size, dtype=np.float32) + 0.5
    total, amp, norm = np.zeros((size, size), np.float32), 1.0, 0.0
    for octave in range(octaves):
        per_cell = cell >> octave                       # texels per lattice cell: 16, 8, 4
        n = size // per_cell                            # lattice cells per side (tileable)
        g = texel / per_cell
        i0 = np.floor(g).astype(np.int64)
        f = g - i0
        f = f * f * (3 - 2 * f)                         # smoothstep
        i0, i1 = i0 % n, (i0 + 1) % n
        lattice = _NOISE[(np.arange(n)[:, None] + 37 * octave) % 256, (np.arange(n)[None, :] + 91 * octave) % 256]
        cols = lattice[:, i0] * (1 - f) + lattice[:, i1] * f           # (n, size)
        total += amp * (cols[i0, :] * (1 - f)[:, None] + cols[i1, :] * f[:, None])
        norm += amp
        amp *= 0.5
    total /= norm
    return ((total - total.min()) / (total.max() - total.min())).astype(np.float32).reshape(-1)


_TEX_SIZE, _TEX_PER_CELL = 512, 16
_NOISE_TEX = _bake_noise(_TEX_SIZE, _TEX_PER_CELL)     # flat (512 * 512,)
_NOISE_FLAT = _NOISE.reshape(-1)


def _noise(s, t):
    """Smooth noise in 0..1 at (s, t) measured in noise cells (about one bump per cell), (N,) -> (N,)."""
    si = (s * _F32(_TEX_PER_CELL)).astype(np.int32) & (_TEX_SIZE - 1)
    ti = (t * _F32(_TEX_PER_CELL)).astype(np.int32) & (_TEX_SIZE - 1)
    return _NOISE_TEX.take(ti * _TEX_SIZE + si)


def _cell_hash(i, j):
    """A random value in 0..1 for integer cells (i, j) (int arrays or ints)."""
    return _NOISE_FLAT.take(((j * 7 + 3) & 255) * 256 + ((i * 13 + 5) & 255))


def _frac(x):
    return x - np.floor(x)


def _mix(c1, c2, w):
    """Blend two colours (3,) by weights w (N,) -> (3, N)."""
    c1, c2 = np.asarray(c1, _F32)[:, None], np.asarray(c2, _F32)[:, None]
    return c1 + (c2 - c1) * w


def _albedo(m: Material, s, t):
    """Albedo (3, N) float32 planes of material `m` at surface coordinates s, t (N,) in metres."""
    s = s + _F32(m.offset[0])
    t = t + _F32(m.offset[1])
    if m.rotate:
        s, t = t, s
    a = _F32(1.0 / m.scale_m)
    kind = m.kind
    if kind == "paint" or kind == "metal":
        return np.asarray(m.color, _F32)[:, None] * (_F32(0.93) + _F32(0.14) * _noise(s * a, t * a))
    if kind == "wood":   # planks of width scale_m, 5-10 times longer, grain along them
        row = np.floor(t * a).astype(np.int32)
        shift = _cell_hash(row, 0) * _F32(3)
        along = (s + shift) * (a * _F32(0.15))
        tint = _cell_hash(row, np.floor(along).astype(np.int32))
        grain = _noise(s * _F32(1.5) + row * _F32(7), t * _F32(60))
        out = _mix(m.color, m.color2, _F32(0.25) * tint + _F32(0.35) * grain)
        gap = (_frac(t * a) < 0.04) | (_frac(along) < 0.006)
        out[:, gap] *= _F32(0.55)
        return out
    if kind == "tiles" or kind == "rug":
        u, v = s * a, t * a
        tint = _cell_hash(np.floor(u).astype(np.int32), np.floor(v).astype(np.int32))
        out = np.asarray(m.color, _F32)[:, None] * ((_F32(0.85) + _F32(0.2) * tint) + _F32(0.1) * _noise(u * 4, v * 4))
        grout = (_frac(u) < 0.05) | (_frac(v) < 0.05)
        out[:, grout] = np.asarray(m.color2, _F32)[:, None]
        return out
    if kind == "stripes":
        stripe = (_frac(s * a) < 0.5).astype(_F32)
        return _mix(m.color, m.color2, stripe) * (_F32(0.95) + _F32(0.1) * _noise(s * 5, t * 5))
    if kind == "fabric":
        n1 = _noise(s * a * _F32(0.25), t * a * _F32(0.25))
        n2 = _noise(s * a * _F32(3), t * a * _F32(3))
        return _mix(m.color, m.color2, _F32(0.4) * n1) * (_F32(0.85) + _F32(0.3) * n2)
    if kind == "books":   # spines of random width, colour and height in front of a dark back
        u = s * a + _noise(s * a * _F32(0.1), _F32(0.5) + 0 * s) * _F32(4)
        book = np.floor(u).astype(np.int32)
        h1, h2, h3 = _cell_hash(book, 1), _cell_hash(book, 2), _cell_hash(book, 3)
        out = np.stack([0.1 + 0.7 * h1, 0.1 + 0.6 * h2, 0.1 + 0.6 * h3]).astype(_F32)
        shelf_t = _frac(t * _F32(1 / m.period_m))     # height within a shelf (t = 0 on a board)
        empty = (shelf_t > 0.55 + 0.4 * h2) | (_frac(u) < 0.06) | (h3 < 0.12)
        out[:, empty] = np.asarray(m.color, _F32)[:, None]
        return out
    if kind == "window":   # bright sky; the frame and bars are drawn by the decal code
        return _mix(m.color, (1.0, 1.0, 1.0), _noise(s * _F32(0.7), t * _F32(0.7)))
    if kind == "random":   # domain randomisation: two random colours in blotches, grain on top
        n1 = _noise(s * a, t * a)
        n2 = _noise(s * a * _F32(7.3) + _F32(17), t * a * _F32(7.3))
        return _mix(m.color, m.color2, np.clip((n1 - _F32(0.5)) * _F32(m.period_m) + _F32(0.5), 0, 1)) * (
            _F32(0.75) + _F32(0.5) * n2)
    if kind == "brick":   # bricks scale_m long in courses period_m high, every other course shifted half a brick
        v = t * _F32(1.0 / m.period_m)
        row = np.floor(v).astype(np.int32)
        u = s * a + (row & 1).astype(_F32) * _F32(0.5)
        tint = _cell_hash(np.floor(u).astype(np.int32), row)
        out = np.asarray(m.color, _F32)[:, None] * (_F32(0.7) + _F32(0.45) * tint + _F32(0.2) * _noise(u * 3, v * 3))
        mortar = (_frac(v) < 0.14) | (_frac(u) < 0.05)
        out[:, mortar] = np.asarray(m.color2, _F32)[:, None]
        return out
    if kind == "picture":
        n = _noise(s * a * _F32(0.3), t * a * _F32(0.3))
        return _mix(m.color, m.color2, np.clip((n - _F32(0.35)) * _F32(3), 0, 1))
    raise ValueError(f"unknown material kind {kind!r}")
