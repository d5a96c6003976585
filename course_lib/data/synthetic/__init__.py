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
   spines, brick), each with a random scale, so texture shrinks with distance as in a photograph but its
   size alone does not give the depth away; Lambertian shading from the lamp plus ambient light,
   darkening near the room's edges and under furniture (a cheap stand-in for ambient occlusion and
   contact shadows), a highlight on glossy materials, vignetting, exposure, Gaussian sensor noise.
   Most rooms (`PHOTO_LIGHT`, 80 %) are lit and tone-mapped like photos (`photo_lighting`): deep
   shadows away from the lamp, exposure that varies by frame, a steep tone curve that clips shadows
   and highlights. Without it the renders are brighter and flatter than any photo, and a network
   trained on them reads real photos as near. On request (`surfaces=`, off by default) rooms get the
   busy, often dark walls and floors of real rooms (`photo_surfaces`: brick, concrete blocks, wooden
   panels, stained concrete), and (`clutter=`, off by default) the small things of lived-in rooms on
   their tables, seats and floor (`add_clutter`: books, bottles, monitors, lamps, plants, cushions,
   cartons, bins, bags, each at its real size), and (`long_views=`, off by default) the camera may stand
   near a short wall and look along the room, as a photographer would, or (`close_views=`, off by
   default) 0.9-1.8 m in front of the wall it faces, as in photos of a desk, a counter or a shelf. By
   default (`DOORWAYS`, every room; `doorways=0` turns it off) the room goes on beyond a door or a wide
   opening in the wall the camera faces (`add_doorway`): without it the farthest thing in view is always
   that lit wall, and a network trained on such rooms puts real rooms, which go on through doors and
   passages, too near.
4. **Raw depth** (optional, `raw_depth=True`): the exact depth as a Kinect would deliver it: holes
   (0) at depth discontinuities, beyond a per-scene range, on dark, glossy or glass surfaces and at
   grazing angles, and the remaining values quantised like the Kinect's disparity (an error of about
   0.003 * depth**2 metres).

Depth is within about 0.5-10 m (NYU's range): the camera keeps 0.7 m from walls and objects, and a
room is shrunk until its farthest corner is closer than `MAX_DEPTH_M` along the optical axis.

Determinism: a frame depends only on (seed, height, width). Geometry uses only IEEE-exact
arithmetic (+, -, *, /, sqrt) on float32 arrays, and no array transcendental functions are used
anywhere, so the same seed gives the same frame on any machine.

The code, one file per stage; read them in this order:

1. `scene.py`: the scene description (`RoomScene`, `Camera`, `Primitive`, `Material`, `Decal`) and the
   renderer's constants.
2. `furniture.py`: random materials, and the furniture built from boxes, cylinders and spheres.
3. `sampling.py`: step 1, `sample_scene`: the room, the camera, decals, furniture, the lamp.
4. `variations.py`: the room's look changed, geometry kept: `photo_lighting`, `photo_surfaces`,
   `randomize_textures`; `clutter.py`: small things added to the room, `add_clutter`; `doorways.py`: the
   room going on beyond an opening, `add_doorway`.
5. `raycast.py`: step 2, a ray per pixel, the nearest hit and its depth.
6. `textures.py`: step 3, the procedural textures.
7. `shading.py`: step 3, per pixel: normals, albedo, occlusion, floor shadows.
8. `kinect.py`: step 4, the raw depth.
9. `render.py`: `render_scene`, the steps put together with the lamp and the camera, and `render_room`.

Everything other code uses is imported from here, e.g. `from course_lib.data.synthetic import render_room`.
"""
from __future__ import annotations

from .clutter import add_clutter
from .doorways import add_doorway
from .render import render_room, render_scene
from .sampling import sample_scene
from .scene import (CLOSE_VIEWS, CLUTTER, DOORWAYS, FACE_NAMES, HELDOUT_SEED_BASE, KINECT_FOCAL_BASELINE, LONG_VIEWS, MAX_DEPTH_M,
                    MIN_DEPTH_M, NUM_FACES, PHOTO_LIGHT, PHOTO_SURFACES, RENDERER_VERSION, Camera, Decal,
                    Material, Primitive, RoomScene, face_coordinates)
from .variations import photo_lighting, photo_surfaces, randomize_textures

__all__ = ["CLOSE_VIEWS", "CLUTTER", "DOORWAYS", "FACE_NAMES", "HELDOUT_SEED_BASE", "KINECT_FOCAL_BASELINE", "LONG_VIEWS",
           "MAX_DEPTH_M",
           "MIN_DEPTH_M", "NUM_FACES", "PHOTO_LIGHT", "PHOTO_SURFACES", "RENDERER_VERSION", "Camera", "Decal",
           "Material", "Primitive", "RoomScene", "add_clutter", "add_doorway", "face_coordinates", "photo_lighting",
           "photo_surfaces", "randomize_textures", "render_room", "render_scene", "sample_scene"]
