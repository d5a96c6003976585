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
