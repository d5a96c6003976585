"""Every depth network of the course under one contract, and the tools to build and size them.

Introduced in lesson 03. The contract: a model takes (B, 3, H, W) ImageNet-normalised images of any
size and returns positive depth in metres, (B, 1, ceil(H/s), ceil(W/s)), s = model.output_stride.

    build_model(name, **options), list_models()      unet, resnet_unet, fpn, eigen, densedepth
    predict(model, images)                           depth at the input size, (B, 1, H, W)
    build_encoder, list_encoders                     ResNet / DenseNet / EfficientNet-Lite0 feature pyramids
    freeze_encoder, unfreeze_encoder, param_groups   transfer learning (lesson 06)
    model_summary                                    parameters, GFLOPs, activation memory
"""
from .blocks import DepthHead, depth_from_log, output_size
from .densedepth import DenseDepth
from .eigen import Eigen
from .encoders import (Encoder, build_encoder, efficientnet_lite0_classifier, encoder_weights,
                       freeze_encoder, imagenet_class_names, list_encoders, param_groups, unfreeze_encoder)
from .fpn import FPN
from .registry import MODELS, build_model, list_models, model_options, predict
from .resnet_unet import ResNetUNet
from .summary import ModelSummary, model_summary
from .unet import UNet

__all__ = [
    "build_model", "list_models", "model_options", "predict", "MODELS",
    "UNet", "ResNetUNet", "FPN", "Eigen", "DenseDepth",
    "Encoder", "build_encoder", "list_encoders", "efficientnet_lite0_classifier", "encoder_weights",
    "imagenet_class_names", "freeze_encoder", "unfreeze_encoder", "param_groups",
    "DepthHead", "depth_from_log", "output_size", "ModelSummary", "model_summary",
]
