"""ONNX export: one file for every height and width, matching PyTorch within 1e-4 relative."""
import onnxruntime  # noqa: F401  (installed with the course: a broken one fails, not skips)
import onnxscript  # noqa: F401
import pytest
import torch

from course_lib.export import check_onnx_parity, export_onnx, onnx_exporter_name
from course_lib.models import build_model, predict


def _varied(model):
    """Random weights large enough that the depth varies across the image (a flat map would hide errors).

    A pretrained encoder keeps its ImageNet weights (they vary the features already; redrawn at this
    scale, EfficientNet-Lite0's 16 blocks saturate and the two runtimes part by 1e-3), the rest is redrawn.
    """
    torch.manual_seed(0)
    keep = set(map(id, model.encoder.parameters())) if getattr(model.encoder, "pretrained_source", None) else set()
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim > 1 and id(p) not in keep:
                p.normal_(0, 1.5 / p[0].numel() ** 0.5)
    return model.eval()


@pytest.mark.parametrize("name, options", [
    ("unet", {"base_channels": 8, "depth": 3}),
    pytest.param("resnet_unet", {"encoder": "resnet18", "decoder_channels": (32, 16, 16, 8)}, marks=pytest.mark.slow),
    ("resnet_unet", {"encoder": "efficientnet_lite0", "pretrained": True}),   # depthwise convs, SAME padding
], ids=["unet", "resnet_unet", "efficientnet_lite0_unet"])
def test_onnx_matches_pytorch_at_two_sizes(tmp_path, name, options):
    import onnxruntime as ort

    model = _varied(build_model(name, **options))
    sizes = [(48, 64), (61, 83)]                    # the second one odd: padding and cropping inside the graph
    path = export_onnx(model, tmp_path / "model.onnx", sample_size=(48, 64), check_sizes=sizes)
    assert path.exists() and not [p for p in tmp_path.iterdir() if p.name != "model.onnx"]
    assert onnx_exporter_name(path) in ("dynamo", "torchscript")

    parity = check_onnx_parity(model, path, sizes)
    assert set(parity) == set(sizes)
    for figures in parity.values():
        assert figures["max_rel_error"] <= 1e-4

    # an independent check: run onnxruntime here and compare with models.predict
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = torch.randn(2, 3, 61, 83, generator=torch.Generator().manual_seed(3))
    expected = predict(model, image)
    assert expected.std() > 1e-2                    # the map is not flat
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: image.numpy()})[0])
    assert got.shape == (2, 1, 61, 83)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_failed_export_leaves_no_file(tmp_path):
    from course_lib.errors import CourseError

    class NotExportable(torch.nn.Module):
        output_stride = 1

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 1)

            self.calls = 0

        def forward(self, x):                  # Python state: the graph freezes it, PyTorch does not
            self.calls += 1
            return self.conv(x).abs() + self.calls

    with pytest.raises(CourseError, match="could not export"):
        export_onnx(NotExportable(), tmp_path / "x.onnx", sample_size=(16, 16), check_sizes=[(16, 16), (21, 19)])
    assert list(tmp_path.iterdir()) == []
