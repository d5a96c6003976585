"""Synthetic rooms: procedural indoor scenes ray-cast with numpy, with exact metric depth and normals.

Introduced in lesson 01 (NYU Depth V2 data, last part); the course's default data set everywhere else.

How a frame is made (`render_room(seed)` = `render_scene(sample_scene(seed), height, width)`):

1. **Scene** (`sample_scene`, a few hundred random numbers from `numpy.random.default_rng(seed)`):
   a room box 2-8 m wide and long and 2.4-3.2 m high; a camera 1-1.7 m above the floor, inside the
   room, looking into it with a random yaw, a pitch of -25..+5 degrees and a small roll; furniture
   made of boxes, cylinders and spheres (cabinets, beds and sofas, bookshelves, tables on legs, wall
   cupboards, stools, bins, balls, crates) standing on the floor or against the walls; flat pictures,
   doors, windows and rugs painted on walls and floor (texture that is *not* geometry: a network must
   not read depth edges off colour edges); a ceiling lamp; a material per surface.
2. **Geometry**: one ray per pixel through the NYU camera (`course_lib.geometry.nyu_intrinsics`,
   scaled to the image size). Every ray is intersected with every primitive at once, in vectorised
   float32 numpy: the room's six planes (the ray leaves the room box through the nearest one), boxes
   (slab method), vertical cylinders (a quadratic plus the flat caps) and spheres (a quadratic). Only
   pixels inside a primitive's projected bounding rectangle are tested. The nearest hit wins, and its
   ray parameter *is* the depth, because the camera-frame ray direction is ((u-cx)/fx, (v-cy)/fy, 1).
   Normals come analytically from the winning primitive (box face, cylinder side or cap, sphere).
3. **Appearance**, computed once per pixel for the winning primitive only: procedural textures
   defined on the surfaces in metres (wood planks, tiles, paint, wallpaper stripes, fabric, book
   spines), each with a random scale, so texture shrinks with distance as in a photograph but its
   size alone does not give the depth away; Lambertian shading from the lamp plus ambient light,
   darkening near the room's edges and under furniture (a cheap stand-in for ambient occlusion and
   contact shadows), a highlight on glossy materials, vignetting, exposure, Gaussian sensor noise.
   Most rooms (`PHOTO_LIGHT`, 80 %) are lit and tone-mapped like photos (`photo_lighting`): deep
   shadows away from the lamp, exposure that varies by frame, a steep tone curve that clips shadows
   and highlights. Without it the renders are brighter and flatter than any photo, and a network
   trained on them reads real photos as near.
4. **Raw depth** (optional, `raw_depth=True`): the exact depth as a Kinect would deliver it: holes
   (0) at depth discontinuities, beyond a per-scene range, on dark, glossy or glass surfaces and at
   grazing angles, and the remaining values quantised like the Kinect's disparity (an error of about
   0.003 * depth**2 metres).

Depth is within about 0.5-10 m (NYU's range): the camera keeps 0.7 m from walls and objects, and a
room is shrunk until its farthest corner is closer than `MAX_DEPTH_M` along the optical axis.

Determinism: a frame depends only on (seed, height, width). Geometry uses only IEEE-exact
arithmetic (+, -, *, /, sqrt) on float32 arrays, and no array transcendental functions are used
anywhere, so the same seed gives the same frame on any machine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from course_lib.geometry import nyu_intrinsics

MIN_DEPTH_M = 0.5   # nearest surface the scene sampler allows (metres, approximately)
MAX_DEPTH_M = 10.0  # farthest depth a frame can contain (metres, guaranteed)
HELDOUT_SEED_BASE = 10**9  # seeds from here on are the course's held-out rooms: never train on them
RENDERER_VERSION = 2  # raise it whenever a change moves any pixel: saved runs are matched against it
PHOTO_LIGHT = 0.8  # the share of rooms lit like photos (photo_lighting); 0 gives renderer version 1's frames
KINECT_FOCAL_BASELINE = 580.0 * 0.075  # focal length (px) x baseline (m) of the Kinect's IR pair

# Room faces come first in the primitive-id map; objects are numbered from NUM_FACES on.
FACE_NAMES = ("floor", "ceiling", "wall x=0", "wall x=max", "wall z=0", "wall z=max")
NUM_FACES = 6

# A fixed table of random values for value noise and per-cell hashes (made once, the same everywhere).
_NOISE = np.random.default_rng(20240517).random((256, 256), dtype=np.float32)
_F32 = np.float32


# --------------------------------------------------------------------------------------------------
# Scene description


@dataclass
class Material:
    """A procedural surface: `kind` is one of paint, wood, tiles, stripes, fabric, books, metal."""
    kind: str
    color: tuple            # base albedo, linear RGB in 0..1
    color2: tuple           # second colour of the pattern
    scale_m: float          # size of the pattern's cells (plank width, tile size, stripe period)
    glossy: bool = False    # a highlight in the image, holes in the raw depth
    rotate: bool = False    # swap the pattern's two directions
    offset: tuple = (0.0, 0.0)
    period_m: float = 0.33  # books: shelf spacing (metres)


@dataclass
class Primitive:
    """One solid. box: `half_m` are half extents in its own frame, turned by `yaw` about the vertical;
    cylinder: vertical, radius half_m[0], height 2 * half_m[1]; sphere: radius half_m[0]."""
    kind: str               # "box", "cylinder" or "sphere"
    center_m: tuple         # (x, y, z) in room coordinates (y up, floor at y = 0)
    half_m: tuple
    material: Material
    yaw: float = 0.0        # radians (boxes only)
    label: str = ""

    def corners(self) -> np.ndarray:
        """The 8 corners (8, 3) of a box enclosing the primitive, in room coordinates."""
        hx, hy, hz = self.half_m
        if self.kind != "box":
            hz = hx
        sx = np.array([-1, 1, -1, 1, -1, 1, -1, 1]) * hx
        sy = np.array([-1, -1, 1, 1, -1, -1, 1, 1]) * hy
        sz = np.array([-1, -1, -1, -1, 1, 1, 1, 1]) * hz
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        x, z = c * sx + s * sz, -s * sx + c * sz
        return np.stack([x, sy, z], 1) + np.asarray(self.center_m)


@dataclass
class Decal:
    """A flat rectangle painted on a room face: texture that is not geometry.

    `rect_m` = (s0, t0, s1, t1) in the face's own coordinates (see `face_coordinates`)."""
    face: int
    rect_m: tuple
    kind: str               # "picture", "door", "window" or "rug"
    material: Material


@dataclass
class Camera:
    """Position in room coordinates and orientation (radians): yaw about the vertical, pitch up (+) or
    down (-), roll about the optical axis."""
    position_m: tuple
    yaw: float
    pitch: float
    roll: float

    def rotation(self) -> np.ndarray:
        """(3, 3) float64 R with room = R @ camera + position (camera x right, y down, z forward)."""
        cy, sy = math.cos(self.yaw), math.sin(self.yaw)
        cp, sp = math.cos(self.pitch), math.sin(self.pitch)
        cr, sr = math.cos(self.roll), math.sin(self.roll)
        yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])        # about room y (up)
        base = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])       # camera axes at yaw = pitch = 0
        pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])      # about camera x; + looks up
        roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])       # about camera z
        return yaw @ base @ pitch @ roll


@dataclass
class RoomScene:
    """Everything `render_scene` needs; `sample_scene(seed)` makes one. Lengths in metres."""
    seed: int
    size_m: tuple                           # (x width, y height, z length) of the room
    camera: Camera
    face_materials: list                    # one Material per room face (FACE_NAMES order)
    primitives: list = field(default_factory=list)
    decals: list = field(default_factory=list)
    light_m: tuple = (1.0, 2.5, 1.0)        # ceiling lamp position
    light_power: float = 3.0
    ambient: float = 0.35
    exposure: float = 1.0
    white_balance: tuple = (1.0, 1.0, 1.0)
    noise_std: float = 0.01                 # sensor noise, fraction of full scale
    kinect_range_m: float = 8.0             # raw depth: no measurement beyond this
    contrast: float = 1.0                   # tone curve: > 1 steepens the mid-tones and clips shadows/highlights

    def summary(self) -> str:
        """A few lines describing the scene (for lesson 01)."""
        lx, ly, lz = self.size_m
        cam = self.camera
        lines = [f"room {lx:.1f} x {lz:.1f} m, {ly:.2f} m high; camera {cam.position_m[1]:.2f} m above the floor, "
                 f"pitch {math.degrees(cam.pitch):+.0f} deg, roll {math.degrees(cam.roll):+.1f} deg",
                 "floor " + self.face_materials[0].kind + ", walls " + self.face_materials[2].kind]
        labels = {}
        for p in self.primitives:
            labels.setdefault(p.label.split(":")[0], set()).add(p.label)
        lines.append("objects: " + ", ".join(f"{len(v)} x {k}" if len(v) > 1 else k for k, v in labels.items()))
        lines.append("on walls and floor: " + (", ".join(d.kind for d in self.decals) or "nothing"))
        lines.append(f"{len(self.primitives)} primitives")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Sampling a scene

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


def _choose(rng, options):
    weights = np.array([w for _, w in options], dtype=float)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _footprint(parts):
    """(x0, x1, z0, z1) room-aligned rectangle around placed primitives."""
    corners = np.concatenate([p.corners() for p in parts])
    return corners[:, 0].min(), corners[:, 0].max(), corners[:, 2].min(), corners[:, 2].max()


def _distance_to_aabb(point, parts) -> float:
    corners = np.concatenate([p.corners() for p in parts])
    lo, hi = corners.min(0), corners.max(0)
    gap = np.maximum(np.maximum(lo - point, point - hi), 0.0)
    return float(np.sqrt((gap ** 2).sum()))


def _overlaps(a, b, gap=0.05) -> bool:
    return a[0] < b[1] + gap and b[0] < a[1] + gap and a[2] < b[3] + gap and b[2] < a[3] + gap


def face_coordinates(face: int, x, y, z):
    """(s, t) coordinates in metres on a room face: floor and ceiling (x, z); walls (along, height)."""
    if face in (0, 1):
        return x, z
    if face in (2, 3):
        return z, y
    return x, y


def _camera_z_of_room_corners(size, camera) -> float:
    lx, ly, lz = size
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (0, lz)], dtype=float)
    forward = camera.rotation()[:, 2]
    return float(((corners - np.asarray(camera.position_m)) @ forward).max())


def sample_scene(seed: int, photo_light: float = PHOTO_LIGHT) -> RoomScene:
    """The random room for `seed` (an int >= 0): size, camera, furniture, decals, materials, light.

    photo_light: the probability that the room is lit like a photo (`photo_lighting`); the geometry does
    not depend on it."""
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
    mats = {"furniture": _material(rng, "furniture"), "wood": _material(rng, "wood"),
            "fabric": _material(rng, "fabric"), "metal": _material(rng, "metal"), "books": _material(rng, "books")}
    primitives, footprints = [], list(reserved)
    n_wall, n_free = int(rng.integers(2, 8)), int(rng.integers(0, 4))
    quarter_of_face = {4: 0, 5: 2, 2: 1, 3: 3}   # object frame z (out of the wall) -> room interior
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
                pos = {2: (gap, 0, s), 3: (lx - gap, 0, s), 4: (s, 0, gap), 5: (s, 0, lz - gap)}[face]
                placed = _place(parts, pos, quarter=quarter_of_face[face])
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
    return photo_lighting(RoomScene(
        seed=int(seed), size_m=size, camera=camera, face_materials=face_materials, primitives=primitives,
        decals=decals, light_m=light, light_power=float(rng.uniform(2.0, 5.0)), ambient=float(rng.uniform(0.2, 0.45)),
        exposure=float(rng.uniform(0.8, 1.25)), white_balance=_jitter(rng, (1.0, 0.97, 0.92), 0.05),
        noise_std=float(rng.uniform(0.004, 0.02)), kinect_range_m=float(rng.uniform(6.0, 9.5))), photo_light)


# --------------------------------------------------------------------------------------------------
# Textures: functions of surface coordinates (s, t) in metres, evaluated only on the pixels that need them


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


def _planes(color, n):
    """A constant colour as (3, n) float32 planes."""
    return np.repeat(np.asarray(color, _F32)[:, None], n, axis=1)


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
    if kind == "picture":
        n = _noise(s * a * _F32(0.3), t * a * _F32(0.3))
        return _mix(m.color, m.color2, np.clip((n - _F32(0.35)) * _F32(3), 0, 1))
    raise ValueError(f"unknown material kind {kind!r}")


# --------------------------------------------------------------------------------------------------
# Ray casting


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


# --------------------------------------------------------------------------------------------------
# Normals, albedo, shading

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
    shade = _F32(scene.ambient) * (_F32(0.8) + _F32(0.2) * ny) + ndotl * falloff * _F32(0.6)
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
    real photo as nearness (benchmarks/photometric_probe.py); with the default share, lesson 03's recipe
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


def render_room(seed: int, height: int = 240, width: int = 320, raw_depth: bool = False,
                return_scene: bool = False, random_textures: float = 0.0, photo_light: float = PHOTO_LIGHT) -> dict:
    """One synthetic room frame, the same for the same seed on any machine.

    Returns a dict: "rgb" (H, W, 3) uint8; "depth" (H, W) float32 metres (exact, no holes); "normals"
    (H, W, 3) float32 unit vectors in camera coordinates (x right, y down, z forward), facing the
    camera; "K" (3, 3) float32 intrinsics (NYU's, scaled to H x W); with `raw_depth=True` also
    "raw_depth" (H, W) float32 metres, 0 = no measurement (Kinect-like holes; elsewhere the depth
    quantised in disparity, within 0.003 * depth**2 + 1e-3 metres of "depth"); with `return_scene=True`
    also "scene", the RoomScene it was rendered from. random_textures: the probability that a surface
    gets a random texture (`randomize_textures`; default 0: the room as sampled). photo_light: the
    probability that the room is lit and tone-mapped like a photo (`photo_lighting`; default
    `PHOTO_LIGHT`, 0.8; 0 renders every room flat, as renderer version 1 did). Introduced in lesson 01.
    """
    scene = randomize_textures(sample_scene(seed, photo_light), random_textures)
    out = render_scene(scene, height, width, raw_depth=raw_depth)
    if return_scene:
        out["scene"] = scene
    return out
