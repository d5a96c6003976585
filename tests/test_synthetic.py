"""Synthetic rooms: determinism, formats, depth range, and depth/normals checked against geometry."""
import numpy as np
import pytest

from course_lib.data.synthetic import (CLOSE_VIEWS, CLUTTER, DOORWAYS, LONG_VIEWS, MAX_DEPTH_M, NUM_FACES, PHOTO_LIGHT,
                                      PHOTO_SURFACES, Material, add_clutter, add_doorway, photo_surfaces, render_room,
                                      render_scene, sample_scene)
from course_lib.data.synthetic.raycast import _cast
from course_lib.data.synthetic.textures import _albedo as albedo
from course_lib.geometry import backproject, normals_from_depth, nyu_intrinsics


@pytest.fixture(scope="module")
def frame():
    return render_room(7, 240, 320, raw_depth=True, return_scene=True)


@pytest.fixture(scope="module")
def small_frames():
    return [render_room(seed, 60, 80, raw_depth=True) for seed in range(20)]


def camera_rays(K, h, w):
    """Camera-frame rays (H, W, 3) with z = 1, computed independently of the renderer."""
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    return np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)


def to_room(frame):
    """Back-projected points of a frame in room coordinates (H, W, 3), using the scene's camera."""
    scene = frame["scene"]
    points = backproject(frame["depth"], frame["K"]).astype(np.float64)
    return points @ scene.camera.rotation().T + np.asarray(scene.camera.position_m)


def test_same_seed_same_frame_and_different_seeds_differ():
    a, b = render_room(3, 60, 80, raw_depth=True), render_room(3, 60, 80, raw_depth=True)
    for key in ("rgb", "depth", "normals", "K", "raw_depth"):
        np.testing.assert_array_equal(a[key], b[key])
    c = render_room(4, 60, 80)
    assert not np.array_equal(a["depth"], c["depth"])
    assert not np.array_equal(a["rgb"], c["rgb"])


def test_shapes_and_dtypes(frame):
    assert frame["rgb"].shape == (240, 320, 3) and frame["rgb"].dtype == np.uint8
    assert frame["depth"].shape == (240, 320) and frame["depth"].dtype == np.float32
    assert frame["normals"].shape == (240, 320, 3) and frame["normals"].dtype == np.float32
    assert frame["K"].shape == (3, 3) and frame["K"].dtype == np.float32
    assert frame["raw_depth"].shape == (240, 320) and frame["raw_depth"].dtype == np.float32
    assert "raw_depth" not in render_room(7, 60, 80)


def test_depth_in_nyu_range(small_frames):
    for f in small_frames:
        d = f["depth"]
        assert np.isfinite(d).all()
        assert d.min() >= 0.45 and d.max() <= MAX_DEPTH_M


def test_normals_are_unit_and_face_the_camera(small_frames):
    K = nyu_intrinsics(60, 80)
    rays = camera_rays(K, 60, 80)
    for f in small_frames:
        n = f["normals"].astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-4)
        assert ((n * rays).sum(-1) < 0).all()


def test_points_lie_inside_the_room(frame):
    lx, ly, lz = frame["scene"].size_m
    p = to_room(frame)
    assert (p >= -1e-3).all()
    assert (p[..., 0] <= lx + 1e-3).all() and (p[..., 1] <= ly + 1e-3).all() and (p[..., 2] <= lz + 1e-3).all()


def test_floor_pixels_are_coplanar_at_camera_height(frame):
    scene = frame["scene"]
    up_cam = scene.camera.rotation().T @ np.array([0.0, 1.0, 0.0])     # the floor's normal, camera frame
    floor = np.abs(frame["normals"].astype(np.float64) @ up_cam - 1) < 1e-4
    floor &= to_room(frame)[..., 1] < 0.01                                  # not a table top
    assert floor.sum() > 500
    points = backproject(frame["depth"], frame["K"]).astype(np.float64)[floor]
    # least-squares plane through the floor points, independent of the renderer's normals
    centre = points.mean(0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    normal = vt[-1] * np.sign(vt[-1] @ up_cam)
    assert np.abs((points - centre) @ normal).max() < 2e-3
    assert np.degrees(np.arccos(min(1.0, normal @ up_cam))) < 0.2
    # the camera's distance to that plane is its height above the floor
    assert abs(abs(centre @ normal) - scene.camera.position_m[1]) < 5e-3


def test_normals_agree_with_normals_from_depth(frame):
    reference = normals_from_depth(frame["depth"], frame["K"])
    ok = np.isfinite(reference).all(-1)
    cos = (reference[ok] * frame["normals"][ok]).sum(-1)
    # away from depth edges the two agree; edges are a small fraction of the image
    assert np.mean(cos > np.cos(np.radians(5))) > 0.85
    assert np.median(cos) > np.cos(np.radians(1))


def test_intrinsics_scale_with_size():
    for h, w in ((120, 160), (240, 320), (480, 640)):
        K = render_room(0, h, w)["K"] if h < 480 else nyu_intrinsics(h, w)
        np.testing.assert_allclose(K, nyu_intrinsics(h, w))
        assert K[0, 0] == pytest.approx(518.8579 * w / 640, rel=1e-5)
        assert K[1, 1] == pytest.approx(519.4696 * h / 480, rel=1e-5)


def test_sizes_render_the_same_scene():
    big, small = render_room(5, 480, 640)["depth"], render_room(5, 240, 320)["depth"]
    # pixel (u, v) at 240x320 covers pixels 2u..2u+1, 2v..2v+1 at 480x640 (pixel-corner convention)
    pooled = big.reshape(240, 2, 320, 2).mean((1, 3))
    rel = np.abs(pooled - small) / small
    assert np.median(rel) < 0.005
    assert np.mean(rel < 0.02) > 0.95
    tiny = render_room(5, 120, 160)
    assert tiny["depth"].shape == (120, 160)


def test_raw_depth_has_holes_and_is_quantised_depth_elsewhere(small_frames, frame):
    for f in small_frames + [frame]:
        raw, depth = f["raw_depth"], f["depth"]
        valid = raw > 0
        assert 0.3 < valid.mean() < 0.999
        # Kinect disparity quantisation: error within 0.003 * depth**2 (+ float slack)
        assert (np.abs(raw[valid] - depth[valid]) <= 0.003 * depth[valid] ** 2 + 1e-3).all()
    holes = frame["raw_depth"] == 0
    assert holes.sum() > 100


def test_raw_depth_holes_at_depth_discontinuities(frame):
    d = frame["depth"]
    jump = np.abs(np.diff(d, axis=1)) > 0.1 * d[:, 1:]
    assert jump.sum() > 20
    raw = frame["raw_depth"]
    assert ((raw[:, 1:] == 0) | (raw[:, :-1] == 0))[jump].mean() > 0.95


def test_images_are_not_trivial(small_frames, frame):
    assert frame["rgb"].std() > 15
    for f in small_frames:
        assert f["rgb"].std() > 5


def test_scenes_vary_across_seeds(small_frames):
    means = np.array([f["depth"].mean() for f in small_frames])
    assert means.max() - means.min() > 1.5
    assert means.std() > 0.4
    brightness = np.array([f["rgb"].mean() for f in small_frames])
    assert brightness.max() - brightness.min() > 20
    assert len({f["depth"].max().round(2) for f in small_frames}) > 15


def test_scene_split_equals_render_room(frame):
    scene = sample_scene(7)
    again = render_scene(scene, 240, 320)
    np.testing.assert_array_equal(again["depth"], frame["depth"])
    np.testing.assert_array_equal(again["rgb"], frame["rgb"])
    assert len(scene.primitives) >= 1
    assert "room" in scene.summary()


def test_too_small_image_is_refused():
    with pytest.raises(ValueError, match="too small"):
        render_room(0, 4, 4)


def test_random_textures_change_the_colours_only_and_are_a_function_of_the_seed():
    plain = render_room(5, 60, 80, raw_depth=True)
    assert all(np.array_equal(plain[k], render_room(5, 60, 80, raw_depth=True, random_textures=0.0)[k])
               for k in ("rgb", "depth", "raw_depth"))
    textured = render_room(5, 60, 80, raw_depth=True, random_textures=1.0)
    for key in ("depth", "normals", "K"):
        np.testing.assert_array_equal(textured[key], plain[key])
    assert np.abs(textured["rgb"].astype(int) - plain["rgb"]).mean() > 10      # every surface repainted
    np.testing.assert_array_equal(textured["rgb"], render_room(5, 60, 80, random_textures=1.0)["rgb"])
    half = render_room(5, 60, 80, random_textures=0.5)["rgb"]
    assert not np.array_equal(half, plain["rgb"]) and not np.array_equal(half, textured["rgb"])


def test_photo_lighting_darkens_and_steepens_the_image_only_and_is_a_function_of_the_seed():
    plain = render_room(5, 60, 80, raw_depth=True, photo_light=0.0)
    lit = render_room(5, 60, 80, raw_depth=True, photo_light=1.0)
    assert PHOTO_LIGHT == 0.8 and not np.array_equal(lit["rgb"], plain["rgb"])
    for key in ("depth", "normals", "K"):
        np.testing.assert_array_equal(lit[key], plain[key])
    np.testing.assert_array_equal(lit["rgb"], render_room(5, 60, 80, photo_light=1.0)["rgb"])
    # over a few rooms: darker on average, and more contrast (the gap to photos that it closes)
    gray = lambda rgb: rgb.astype(np.float64).mean(-1) / 255  # noqa: E731
    pairs = [(gray(render_room(s, 60, 80, photo_light=0)["rgb"]), gray(render_room(s, 60, 80, photo_light=1)["rgb"]))
             for s in range(6)]
    assert np.mean([b.mean() for _, b in pairs]) < np.mean([a.mean() for a, _ in pairs]) - 0.05
    assert np.mean([b.std() for _, b in pairs]) > np.mean([a.std() for a, _ in pairs]) + 0.02
    lit_by_default = [not np.array_equal(render_room(s, 60, 80)["rgb"], render_room(s, 60, 80, photo_light=0)["rgb"])
                      for s in range(10)]
    assert 0 < sum(lit_by_default) < 10     # a probability per room (PHOTO_LIGHT), not all or nothing


def test_photo_surfaces_change_walls_and_floor_only_and_are_a_function_of_the_seed():
    from dataclasses import replace

    plain = render_room(7, 60, 80, raw_depth=True, return_scene=True, surfaces=0.0)
    rough = render_room(7, 60, 80, raw_depth=True, return_scene=True, surfaces=1.0)
    for key in ("depth", "normals", "K"):
        np.testing.assert_array_equal(rough[key], plain[key])
    np.testing.assert_array_equal(rough["rgb"], render_room(7, 60, 80, surfaces=1.0)["rgb"])
    def solids(scene):   # a doorway's partition is made of the wall's material; its geometry stays
        return [replace(p, material=None) if p.label == "partition" else p for p in scene.primitives]

    assert solids(rough["scene"]) == solids(plain["scene"])                        # furniture untouched
    assert any(p.label == "partition" for p in plain["scene"].primitives)
    assert rough["scene"].face_materials[1] == plain["scene"].face_materials[1]    # and the ceiling
    kinds = {m.kind for s in range(12) for m in photo_surfaces(sample_scene(s, surfaces=0), 1.0).face_materials[2:]}
    assert {"brick", "wood"} <= kinds and "paint" not in kinds and "stripes" not in kinds
    # brick: mortar lines make a wall busier than paint of the same colour
    paint, brick = Material("paint", (0.6, 0.3, 0.2), (0.6, 0.3, 0.2), 1.0), \
        Material("brick", (0.6, 0.3, 0.2), (0.6, 0.6, 0.6), 0.22, period_m=0.075)
    s, t = (a.ravel().astype(np.float32) for a in np.meshgrid(np.linspace(0, 2, 200), np.linspace(0, 2, 200)))
    assert albedo(brick, s, t).std(axis=1).mean() > 3 * albedo(paint, s, t).std(axis=1).mean()
    changed = [sample_scene(s, surfaces=0.5).face_materials != sample_scene(s).face_materials for s in range(12)]
    assert PHOTO_SURFACES == 0 and 0 < sum(changed) < 12    # off by default; a probability per room


def test_clutter_stands_on_the_floor_or_on_furniture_clear_of_the_camera_and_is_a_function_of_the_seed():
    assert CLUTTER == 0                                       # off by default
    placed, seen = 0, 0
    for seed in range(12):                                    # in rooms without doorways: clutter alone
        plain, cluttered = sample_scene(seed, clutter=0, doorways=0), sample_scene(seed, clutter=1.0, doorways=0)
        assert cluttered == sample_scene(seed, clutter=1.0, doorways=0)
        n = len(plain.primitives)
        assert cluttered.primitives[:n] == plain.primitives and cluttered.face_materials == plain.face_materials
        added = cluttered.primitives[n:]
        assert added and all(p.label.startswith("clutter:") for p in added)
        lx, ly, lz = cluttered.size_m
        tops = [float(q.corners()[:, 1].max()) for q in plain.primitives]
        camera = np.asarray(cluttered.camera.position_m)
        for thing in added:
            corners = thing.corners()
            lo, hi = corners.min(0), corners.max(0)
            assert 0 <= lo[0] and hi[0] <= lx and 0 <= lo[2] and hi[2] <= lz and hi[1] < ly
            gap = np.maximum(np.maximum(lo - camera, camera - hi), 0)
            assert np.sqrt((gap ** 2).sum()) >= 0.6 - 1e-6
            # it stands on the floor, on a piece of furniture, or on the thing below it (a stack); leaves sit in a pot
            if thing.label != "clutter:plant":
                assert any(abs(lo[1] - level) < 1e-6 for level in [0.0] + tops + [float(q.corners()[:, 1].max())
                                                                              for q in added])
        placed += len(added)
        frame = render_scene(cluttered, 60, 80)
        assert np.isfinite(frame["depth"]).all() and frame["depth"].max() <= MAX_DEPTH_M
        ids = _cast(cluttered, nyu_intrinsics(60, 80), 60, 80)[1]         # which surface each pixel sees
        seen += int((ids >= NUM_FACES + n).any())
    assert placed >= 12 * 4 and seen >= 8                       # clutter is there, and mostly in view
    changed = [len(add_clutter(sample_scene(s), 0.5).primitives) > len(sample_scene(s).primitives) for s in range(12)]
    assert 0 < sum(changed) < 12                                # a probability per room
    untouched = render_room(5, 60, 80)
    np.testing.assert_array_equal(render_room(5, 60, 80, clutter=0.0)["rgb"], untouched["rgb"])


def test_long_views_look_along_the_room_from_near_a_short_wall_and_are_a_function_of_the_seed():
    assert LONG_VIEWS == 0                                    # off by default
    along, medians = 0, []
    for seed in range(16):                                    # in rooms without doorways: long views alone
        plain, view = sample_scene(seed, long_views=0, doorways=0), sample_scene(seed, long_views=1.0, doorways=0)
        assert view == sample_scene(seed, long_views=1.0, doorways=0)
        lx, ly, lz = view.size_m
        x, _, z = view.camera.position_m
        forward = np.array([np.sin(view.camera.yaw), np.cos(view.camera.yaw)])     # (x, z), horizontal
        long_axis = np.array([1.0, 0.0]) if lx >= lz else np.array([0.0, 1.0])
        assert abs(forward @ long_axis) >= np.cos(np.radians(20)) - 1e-9          # along the length
        # near the short wall behind it: within 1.2 m of it (a room shrunk to keep depth in range moves it)
        behind = (x if forward[0] > 0 else lx - x) if lx >= lz else (z if forward[1] > 0 else lz - z)
        along += behind <= 1.2 + 1e-9
        assert view.size_m[1] == plain.size_m[1] and view.face_materials == plain.face_materials
        medians.append((np.median(render_room(seed, 30, 40, long_views=0, doorways=0)["depth"]),
                        np.median(render_room(seed, 30, 40, long_views=1.0, doorways=0)["depth"])))
    assert along >= 12
    near, far = np.mean(medians, axis=0)
    assert far > near + 0.3                                   # the rooms come out deeper, as photos of rooms do
    changed = [sample_scene(s, long_views=0.5).camera != sample_scene(s).camera for s in range(16)]
    assert 0 < sum(changed) < 16                              # a probability per room
    np.testing.assert_array_equal(render_room(5, 60, 80, long_views=0.0)["rgb"], render_room(5, 60, 80)["rgb"])


def test_close_views_put_the_facing_wall_0_9_to_1_8_m_away_and_are_a_function_of_the_seed():
    assert CLOSE_VIEWS == 0                                   # off by default
    medians = []
    for seed in range(16):                                    # in rooms without doorways: close views alone
        plain, view = sample_scene(seed, doorways=0), sample_scene(seed, close_views=1.0, doorways=0)
        assert view == sample_scene(seed, close_views=1.0, doorways=0)
        lx, _, lz = view.size_m
        x, _, z = view.camera.position_m
        forward = np.array([np.sin(view.camera.yaw), np.cos(view.camera.yaw)])     # (x, z), horizontal
        # the wall the camera faces: across the axis it looks along most
        ahead = ((lx - x) if forward[0] > 0 else x) if abs(forward[0]) > abs(forward[1]) else \
            ((lz - z) if forward[1] > 0 else z)
        assert 0.7 - 1e-9 <= ahead <= 1.8 + 1e-9
        assert view.camera.yaw == plain.camera.yaw and view.face_materials == plain.face_materials
        medians.append((np.median(render_room(seed, 30, 40, doorways=0)["depth"]),
                        np.median(render_room(seed, 30, 40, close_views=1.0, doorways=0)["depth"])))
    far, near = np.mean(medians, axis=0)
    assert near < far - 0.5                                   # nearer rooms, as photos of desks and counters are
    changed = [sample_scene(s, close_views=0.5).camera != sample_scene(s).camera for s in range(16)]
    assert 0 < sum(changed) < 16                              # a probability per room
    np.testing.assert_array_equal(render_room(5, 60, 80, close_views=0.0)["rgb"], render_room(5, 60, 80)["rgb"])


def test_doorways_open_the_facing_wall_onto_a_deeper_space_lit_its_own_way_and_are_a_function_of_the_seed():
    from dataclasses import replace

    assert DOORWAYS == 1                                      # every room, by default (renderer 3)
    opened, deeper, lighting = 0, 0, 0
    for seed in range(12):
        plain, door = sample_scene(seed, doorways=0.0), sample_scene(seed)
        assert door == sample_scene(seed, doorways=1.0) == sample_scene(seed)
        if not door.beyond:
            assert door == plain                              # no opening fitted: the room as sampled
            continue
        opened += 1
        axis, coordinate, sign, factor = door.beyond
        assert axis in (0, 2) and sign in (-1.0, 1.0) and 0.25 <= factor <= 1.5
        # the room is longer towards the wall the camera faced, and the camera sees it from where it stood
        grown = door.size_m[axis] - plain.size_m[axis]
        assert 1.0 - 1e-9 <= grown <= 4.5 + 1e-9 and door.size_m[1] == plain.size_m[1]
        shift = 0.0 if sign > 0 else grown
        assert np.allclose(np.asarray(door.camera.position_m) - np.asarray(plain.camera.position_m),
                           [shift if i == axis else 0.0 for i in range(3)])
        # a partition from wall to wall and floor to ceiling, with an opening in it, where the wall stood
        walls = [p for p in door.primitives if p.label == "partition"]
        assert 2 <= len(walls) <= 3
        corners = np.concatenate([p.corners() for p in walls])
        front = corners[:, axis].min() if sign > 0 else corners[:, axis].max()
        assert abs(front - (plain.size_m[axis] if sign > 0 else grown)) < 1e-6
        frame, before = render_scene(door, 60, 80), render_scene(plain, 60, 80)
        assert np.isfinite(frame["depth"]).all() and frame["depth"].max() <= MAX_DEPTH_M
        deeper += bool((frame["depth"] > before["depth"] + 0.5).mean() > 0.01)   # seen through the opening
        # the space past the opening is lit by `factor` times the room's light: darker or brighter than the
        # same room lit evenly, and nothing else changes
        lit = render_scene(replace(door, beyond=(axis, coordinate, sign, 1.0)), 60, 80)
        K = nyu_intrinsics(60, 80)
        points = backproject(frame["depth"], K) @ door.camera.rotation().T + np.asarray(door.camera.position_m)
        past = (points[..., axis] - coordinate) * sign > 0.05
        if past.sum() > 20 and abs(factor - 1) > 0.2:
            change = frame["rgb"][past].mean() - lit["rgb"][past].mean()
            assert change * (factor - 1) > 0 and abs(change) > 2
            lighting += 1
            np.testing.assert_array_equal(frame["rgb"][~past & ((points[..., axis] - coordinate) * sign < -0.05)],
                                          lit["rgb"][~past & ((points[..., axis] - coordinate) * sign < -0.05)])
    assert opened >= 10 and deeper >= 6 and lighting >= 3
    changed = [add_doorway(sample_scene(s, doorways=0.0), 0.5) != sample_scene(s, doorways=0.0) for s in range(12)]
    assert 0 < sum(changed) < 12                              # a probability per room
    np.testing.assert_array_equal(render_room(5, 60, 80, doorways=1.0)["rgb"], render_room(5, 60, 80)["rgb"])
    assert not np.array_equal(render_room(5, 60, 80, doorways=0.0)["rgb"], render_room(5, 60, 80)["rgb"])
