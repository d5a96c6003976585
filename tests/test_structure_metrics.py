"""Checkerboard energy and depth-edge scores: they react to what they claim to measure, and can fail."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.structure_metrics import (checkerboard_energy, depth_edges, edge_f1, edge_sharpness,
                                          log_depth_gradient, normal_angle_error)

H, W = 48, 64


def grid():
    return torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")


def ramp():
    rows, cols = grid()
    return 1.0 + 3.0 * cols / W + rows / H                      # a slanted plane, 1..5 m


def boxes_room():
    """A wall at 4 m with two boxes at 1.5 m and 2.5 m: sharp depth edges."""
    d = torch.full((H, W), 4.0)
    d[10:30, 8:28] = 1.5
    d[20:44, 36:60] = 2.5
    return d


def blur(depth, sigma):
    radius = int(3 * sigma)
    x = torch.arange(-radius, radius + 1).float()
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    d = F.pad(depth[None, None], (radius,) * 4, mode="replicate")
    d = F.conv2d(d, g.view(1, 1, 1, -1))
    return F.conv2d(d, g.view(1, 1, -1, 1))[0, 0]


def test_checkerboard_scores_high_and_a_smooth_ramp_low():
    rows, cols = grid()
    checker = ramp() * (1 + 0.05 * (-1.0) ** (rows + cols))
    stripes = ramp() * (1 + 0.05 * (-1.0) ** cols)             # the (0, pi) component alone
    assert checkerboard_energy(checker).item() > 0.9
    assert checkerboard_energy(stripes).item() > 0.9
    assert checkerboard_energy(ramp()).item() < 0.01
    assert checkerboard_energy(boxes_room()).item() < checkerboard_energy(checker).item()


def test_checkerboard_energy_ignores_global_scale_and_accepts_every_shape():
    rows, cols = grid()
    d = boxes_room() * (1 + 0.01 * (-1.0) ** (rows + cols))
    e = checkerboard_energy(d)
    assert e.shape == (1,)
    assert checkerboard_energy(3 * d).item() == pytest.approx(e.item(), rel=1e-4)
    batch = torch.stack([d, ramp()])
    assert checkerboard_energy(batch).shape == (2,)
    assert torch.allclose(checkerboard_energy(batch[:, None]), checkerboard_energy(batch))
    assert checkerboard_energy(d.numpy()).item() == pytest.approx(e.item(), rel=1e-5)
    with pytest.raises(ValueError, match="depth must be"):
        checkerboard_energy(torch.ones(2, 3, H, W))


def test_depth_edges_find_box_outlines_not_slanted_planes():
    assert not depth_edges(ramp()).any()
    edges = depth_edges(boxes_room())[0, 0]                     # (H-2, W-2), shifted by one pixel
    assert edges[9 - 1, 15 - 1] and edges[10 - 1, 15 - 1]       # the top edge of the first box
    assert not edges[20 - 1, 18 - 1]                            # inside the box
    g = log_depth_gradient(boxes_room())
    assert g.shape == (1, 1, H - 2, W - 2)
    assert g[0, 0, 9 - 1, 18 - 1].item() == pytest.approx(math.log(4 / 1.5) / 2, rel=1e-5)  # a per-pixel slope


def test_edge_scores_are_perfect_for_the_truth_and_fall_for_a_blurred_prediction():
    gt = boxes_room()
    perfect = edge_f1(gt, gt)
    assert perfect["f1"].item() == pytest.approx(1.0) and perfect["precision"].item() == pytest.approx(1.0)
    assert edge_sharpness(gt, gt).item() == pytest.approx(1.0)
    blurred = blur(gt, 2.0)
    assert edge_f1(blurred, gt)["f1"].item() < 0.8 * perfect["f1"].item()
    assert edge_f1(blurred, gt)["recall"].item() < edge_f1(blur(gt, 0.7), gt)["recall"].item()
    assert edge_sharpness(blurred, gt).item() < 0.6
    assert edge_sharpness(blur(gt, 0.7), gt).item() > edge_sharpness(blurred, gt).item()
    # a global scale changes nothing (log-depth), a shift of 4 pixels (down and right) loses the edges at tolerance 1
    assert edge_f1(2 * gt, gt)["f1"].item() == pytest.approx(1.0)
    shifted = torch.roll(gt, (4, 4), dims=(0, 1))
    assert edge_f1(shifted, gt, tolerance_px=1)["f1"].item() < 0.5
    assert edge_f1(shifted, gt, tolerance_px=4)["f1"].item() > 0.85  # the tolerance forgives it


def test_edge_scores_per_image_and_without_edges():
    gt = torch.stack([boxes_room(), ramp()])[:, None]             # the second image has no edge
    pred = torch.stack([blur(boxes_room(), 2.0), ramp()])[:, None]
    scores = edge_f1(pred, gt)
    assert scores["f1"].shape == (2,) and scores["f1"][1].item() == 0.0
    sharp = edge_sharpness(pred, gt)
    assert sharp[0].item() < 1 and math.isnan(sharp[1].item())
    assert np.isfinite(edge_f1(pred, gt)["recall"].numpy()).all()


def test_normal_angle_error_measures_surface_tilt_away_from_edges():
    gt = boxes_room()
    assert normal_angle_error(gt, gt).item() == pytest.approx(0.0, abs=1e-3)
    assert normal_angle_error(2 * gt, gt).item() == pytest.approx(0.0, abs=1e-3)  # fronto-parallel planes stay flat
    rows, cols = grid()
    tilted = gt + 0.01 * cols                          # every surface now slopes 1 cm per pixel sideways
    expected = math.degrees(math.atan(8 * 0.01))       # Sobel: 8 x the per-pixel slope
    assert normal_angle_error(tilted, gt).item() == pytest.approx(expected, rel=1e-3)
    noisy = gt * (1 + 0.02 * torch.randn(H, W, generator=torch.Generator().manual_seed(0)))
    assert normal_angle_error(noisy, gt).item() > 5                    # 2 % noise: bumpy surfaces
    assert normal_angle_error(blur(gt, 3.0), gt).item() > 1              # a wide blur bends the surfaces beside edges
    flat = torch.stack([torch.full((H, W), 2.0)])
    assert normal_angle_error(flat, flat).shape == (1,)
