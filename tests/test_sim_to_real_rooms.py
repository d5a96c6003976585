"""benchmarks/sim_to_real.py --render-size: rooms rendered large and shrunk like a photo stay on their depth."""
import importlib.util
from pathlib import Path

import numpy as np

from course_lib.data import heldout_rooms

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "sim_to_real.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("sim_to_real_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _laplacian(gray):
    return np.abs(4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]).mean()


def test_shrunk_rooms_keep_depth_and_line_up_with_it():
    rooms = heldout_rooms(3, (24, 32))
    shrunk = _benchmark().shrunk_rooms(rooms, (60, 80))
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
        assert _laplacian(b) < _laplacian(direct["rgb"].astype(np.float64).mean(-1))
    item = shrunk[0]                                  # through DepthDataset.__getitem__ (no transform)
    assert tuple(item["image"].shape) == (3, 24, 32)
