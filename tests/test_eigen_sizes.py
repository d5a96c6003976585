"""Eigen's working size (`input_size`, lesson 09): the paper's layers at a smaller size, same contract."""
import math

import pytest
import torch

from course_lib.checkpoint import load_model
from course_lib.models import build_model, model_summary
from course_lib.models.eigen import INPUT_HW, OUTPUT_HW, eigen_sizes


def test_paper_size_is_the_default_and_matches_the_paper():
    assert eigen_sizes() == {"features": (6, 9), "map": OUTPUT_HW}
    model = build_model("eigen", fc_width=8)
    assert model.input_size == INPUT_HW and model.config["input_size"] == INPUT_HW
    assert model.coarse.fc[1].in_features == 256 * 6 * 9


@pytest.mark.parametrize("size", [(114, 152), (57, 76), (39, 39)])
def test_smaller_working_size_keeps_the_layers_and_the_output_contract(size):
    sizes = eigen_sizes(size)
    torch.manual_seed(0)
    model = build_model("eigen", fc_width=8, input_size=size).eval()
    paper = build_model("eigen", fc_width=8)
    # the same layers: every conv has the paper's shape; only the fully connected layers change size
    convs = lambda m: [tuple(p.shape) for n, p in m.named_parameters() if not n.startswith("coarse.fc")]  # noqa: E731
    assert convs(model) == convs(paper)
    fh, fw = sizes["features"]
    assert model.coarse.fc[1].in_features == 256 * fh * fw
    assert model.coarse.fc[-1].out_features == sizes["map"][0] * sizes["map"][1]
    x = torch.randn(2, 3, 120, 160)
    with torch.no_grad():
        resized = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        assert model.coarse(resized).shape == (2, 1, *sizes["map"])
        y = model(x)
    assert y.shape == (2, 1, math.ceil(120 / 4), math.ceil(160 / 4))   # output_stride 4, as at the paper's size
    assert torch.isfinite(y).all() and (y > 0).all()


def test_half_size_costs_about_a_quarter():
    full = model_summary(build_model("eigen", fc_width=4096), (120, 160))
    half = model_summary(build_model("eigen", fc_width=4096, input_size=(114, 152)), (120, 160))
    conv_macs = lambda s: sum(r["macs"] for r in s.layers if "fc" not in r["name"])  # noqa: E731
    assert 0.2 < conv_macs(half) / conv_macs(full) < 0.3
    assert half.params < full.params   # the first fc layer reads 3072 instead of 13824 features


def test_staged_training_at_a_working_size():
    model = build_model("eigen", fc_width=8, input_size=(57, 76)).freeze_coarse().train()
    assert not any(p.requires_grad for p in model.coarse.parameters())
    assert all(p.requires_grad for p in model.fine.parameters()) and not model.coarse.training
    model(torch.randn(2, 3, 48, 64)).mean().backward()
    assert all(p.grad is None for p in model.coarse.parameters())
    assert all(p.grad is not None for p in model.fine.parameters())


def test_checkpoint_rebuilds_the_working_size(tmp_path):
    from course_lib.checkpoint import save_checkpoint

    model = build_model("eigen", fc_width=8, input_size=(57, 76)).eval()
    path = tmp_path / "eigen.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.config})
    again = load_model(path, weights="model")
    assert again.input_size == (57, 76)
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert torch.equal(model(x), again.eval()(x))


@pytest.mark.parametrize("bad", [(38, 200), (100, 20), (120,), "big"])
def test_too_small_or_malformed_sizes_say_what_to_do(bad):
    with pytest.raises(ValueError, match="input_size"):
        build_model("eigen", fc_width=8, input_size=bad)
