"""benchmarks/sim_to_real/sim_to_real.py --render-size (rooms rendered large, shrunk like a photo) and benchmarks/sim_to_real/other_frames.py."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from course_lib.data import heldout_rooms

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks" / "sim_to_real"


def _benchmark(name="sim_to_real"):
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCHMARKS))       # sim_to_real imports real_frames beside it
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_shrunk_rooms_keep_depth_and_line_up_with_it():
    rooms = heldout_rooms(3, (24, 32))
    shrunk = _benchmark().shrunk_rooms(rooms, (60, 80))
    laplacian = _benchmark("image_detail").laplacian
    assert len(shrunk) == 3
    for i in range(3):
        direct, small = rooms.sample(i), shrunk.sample(i)
        np.testing.assert_array_equal(small["depth"], direct["depth"])     # exact at the small pixel centres
        np.testing.assert_array_equal(small["K"], direct["K"])
        assert small["rgb"].shape == direct["rgb"].shape and small["rgb"].dtype == np.uint8
        a = direct["rgb"].astype(np.float64).mean(-1)[2:-2, 2:-2]
        b = small["rgb"].astype(np.float64).mean(-1)
        # the same picture: it correlates best with the direct render at no shift
        scores = {(dy, dx): np.corrcoef(a.ravel(), b[2 + dy:b.shape[0] - 2 + dy, 2 + dx:b.shape[1] - 2 + dx].ravel())[0, 1]
                  for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
        assert max(scores, key=scores.get) == (0, 0), scores
        assert scores[(0, 0)] > 0.8
        # and smoother: the shrink averages away the sensor noise and the aliasing of a direct render
        assert laplacian(b).mean() < laplacian(direct["rgb"].astype(np.float64).mean(-1)).mean()
    item = shrunk[0]                                  # through DepthDataset.__getitem__ (no transform)
    assert tuple(item["image"].shape) == (3, 24, 32)


def _frames(root, names=("lab", "office", "hall"), depths_mm=(2500, 1500, 4000)):
    rng = np.random.default_rng(0)
    for name, depth_mm in zip(names, depths_mm):
        frame = root / name
        frame.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(frame / "rgb.png")
        Image.fromarray(np.full((48, 64), depth_mm, np.uint16)).save(frame / "depth.png")
        np.save(frame / "intrinsics.npy", np.array([[52.0, 0, 31.5], [0, 52.0, 23.5], [0, 0, 1]], np.float32))
    return root


def test_other_frames_scores_each_checkpoint_and_averages_the_seeds(tmp_path, capsys):
    import torch

    from course_lib.camera import nyu_camera
    from course_lib.checkpoint import save_checkpoint
    from course_lib.models import build_model

    frames = _frames(tmp_path / "frames")
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = build_model("unet", base_channels=4, depth=2)
        path = tmp_path / ("run" + (f"_seed{seed}" if seed else "")) / "last.pt"
        save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config,
                               "camera": nyu_camera((24, 32)).to_dict()})
        paths.append(str(path))
    assert _benchmark("other_frames").main([str(frames), *paths]) == 0
    out = capsys.readouterr().out
    assert "lab: 48x64, fx 52.0 px, median depth 2.50 m, 100% measured" in out
    assert out.count("[3] ") == 3                          # the frames' numbers: listed once, then per checkpoint
    # the floor: one constant depth, the median over every pixel of the 48 training rooms (96x128) that
    # benchmarks/sim_to_real/real_frames.py names, worked out here from the rendered depth maps; on these flat frames its
    # delta1 is the share of frames within 25 % of it, and a flat wall at each frame's own median is exact
    rooms = _benchmark("real_frames").training_rooms(48, (96, 128))
    depths = np.concatenate([rooms.sample(i)["depth"].ravel() for i in range(48)])
    constant_m = float(np.median(depths[depths > 0]))
    expected_d1 = np.mean([max(constant_m / d, d / constant_m) < 1.25 for d in (2.5, 1.5, 4.0)])
    assert f"the floor on these 3 frames: a constant {constant_m:.2f} m" in out, (constant_m, out)
    assert f"scores delta1 {expected_d1:.3f}" in out and "median-scaled delta1 1.000" in out
    assert out.count("| mean ") == 2                       # one line per checkpoint
    assert out.count("median depth predicted vs measured: correlation") == 2
    assert "run                                          2 model(s)" in out   # run and run_seed1 together

    assert _benchmark("other_frames").main([str(frames), *paths, "--crop", "eigen",
                                            "--pictures", str(tmp_path / "pictures")]) == 0
    assert capsys.readouterr().out.count("| mean ") == 2
    pictures = sorted(p.name for p in (tmp_path / "pictures").iterdir())
    assert pictures == ["run_on_frames.png", "run_seed1_on_frames.png"]
    assert Image.open(tmp_path / "pictures" / pictures[0]).size[0] > 300

    # the models' own kind of rooms, through the same path: exact depth, the NYU camera at a photo's size
    assert _benchmark("other_frames").main(["rooms:2", *paths]) == 0
    out = capsys.readouterr().out
    assert "[1] room_00: 480x640, fx 518.9 px" in out and "room_01: 480x640" in out and "room_02" not in out
    assert "run                                          2 model(s)" in out

    assert _benchmark("other_frames").main([str(tmp_path / "nowhere"), *paths]) == 2
    (frames / "lab" / "intrinsics.npy").unlink()
    assert _benchmark("other_frames").main([str(frames), *paths]) == 2
    assert "lab lacks intrinsics.npy" in capsys.readouterr().err
