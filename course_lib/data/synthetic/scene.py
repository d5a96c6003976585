"""The scene description: the data `sample_scene` makes and `render_scene` draws, and the renderer's constants.

A `RoomScene` is plain data: the size of the room box, a `Camera`, one `Material` per room face, the
furniture as a list of `Primitive`s (boxes, vertical cylinders, spheres), the `Decal`s painted on walls
and floor (texture that is not geometry), a ceiling lamp, and the settings of the photograph (ambient
light, exposure, white balance, sensor noise, tone curve, the Kinect's range). Lengths are metres in
room coordinates: y up, the floor at y = 0, the room from 0 to `size_m` along each axis.

The constants below are the ones the rest of the course imports (from `course_lib.data.synthetic`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MIN_DEPTH_M = 0.5   # nearest surface the scene sampler allows (metres, approximately)
MAX_DEPTH_M = 10.0  # farthest depth a frame can contain (metres, guaranteed)
HELDOUT_SEED_BASE = 10**9  # seeds from here on are the course's held-out rooms: never train on them
RENDERER_VERSION = 3  # raise it whenever a change moves any pixel: saved runs are matched against it
PHOTO_LIGHT = 0.8  # the share of rooms lit like photos (photo_lighting); 0 (and DOORWAYS 0): renderer 1's frames
PHOTO_SURFACES = 0.0  # the share of rooms with busy walls and floors (photo_surfaces): off, see benchmarks/RESULTS.md
CLOSE_VIEWS = 0.0  # the share of rooms seen from close to the wall the camera faces (sample_scene): off
LONG_VIEWS = 0.0  # the share of rooms seen along their length from near a short wall (_long_view): off
DOORWAYS = 1.0  # the share of rooms that go on beyond an opening in the wall the camera faces (add_doorway): all
CLUTTER = 0.0  # the share of rooms with small things on tables and floor (add_clutter): off, see benchmarks/RESULTS.md
KINECT_FOCAL_BASELINE = 580.0 * 0.075  # focal length (px) x baseline (m) of the Kinect's IR pair

# Room faces come first in the primitive-id map; objects are numbered from NUM_FACES on.
FACE_NAMES = ("floor", "ceiling", "wall x=0", "wall x=max", "wall z=0", "wall z=max")
NUM_FACES = 6

# The renderer's arrays are float32 throughout (rays, depth, textures, shading); _F32 is short for it.
_F32 = np.float32


@dataclass
class Material:
    """A procedural surface: `kind` is one of paint, wood, tiles, stripes, fabric, books, metal, brick."""
    kind: str
    color: tuple            # base albedo, linear RGB in 0..1
    color2: tuple           # second colour of the pattern
    scale_m: float          # size of the pattern's cells (plank width, tile size, stripe period)
    glossy: bool = False    # a highlight in the image, holes in the raw depth
    rotate: bool = False    # swap the pattern's two directions
    offset: tuple = (0.0, 0.0)
    period_m: float = 0.33  # books: shelf spacing; brick: course height (metres)


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
    beyond: tuple = ()                      # (axis, coordinate, sign, factor): the space past a doorway
                                            # (add_doorway), where sign * (p[axis] - coordinate) > 0, lit
                                            # by factor times the room's light

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


def face_coordinates(face: int, x, y, z):
    """(s, t) coordinates in metres on a room face: floor and ceiling (x, z); walls (along, height)."""
    if face in (0, 1):
        return x, z
    if face in (2, 3):
        return z, y
    return x, y
