"""How big a model is: parameters, multiply-accumulates and activation memory for one input size.

Introduced in lesson 03 (memory at 480x640) and used again in lessons 06, 07 and 09.

What is counted, exactly:
- parameters: all, and those with requires_grad.
- MACs (multiply-accumulates) with forward hooks on every nn.Conv2d, nn.ConvTranspose2d and
  nn.Linear: conv = output elements x (in_channels / groups) x kernel area; transposed conv =
  input elements x (out_channels / groups) x kernel area; linear = output elements x in_features.
  BatchNorm, activations, pooling, interpolation and additions are not counted (a few percent).
  GFLOPs = 2 x MACs / 1e9 (one multiply and one add), the convention of most papers.
- activation memory: the sum of the bytes of every leaf module's forward output (in-place modules
  such as ReLU(inplace=True) are not counted twice). That is roughly what autograd keeps for the
  backward pass of one training step; functional ops inside forward (torch.cat, F.interpolate,
  padding) are not included, and the weights, gradients and optimizer state come on top.

The forward pass runs on the "meta" device by default: shapes only, no arithmetic and no memory,
so even ResNet-101 at 480x640 is summarised in a moment on a laptop.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn


@dataclass
class ModelSummary:
    """The figures of `model_summary`; print it for a small table, `.to_dict()` for a record."""

    name: str
    input_size: tuple[int, int]
    batch_size: int
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int
    layers: list[dict] = field(default_factory=list, repr=False)

    @property
    def gflops(self) -> float:
        return 2 * self.macs / 1e9

    @property
    def activation_mib(self) -> float:
        return self.activation_bytes / 2 ** 20

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("layers")
        d.update(gflops=self.gflops, activation_mib=self.activation_mib)
        return d

    def __str__(self) -> str:
        h, w = self.input_size
        rows = [
            ("model", self.name),
            ("input", f"{self.batch_size} x 3 x {h} x {w}"),
            ("output", " x ".join(map(str, self.output_shape))),
            ("parameters", f"{self.params / 1e6:.2f} M ({self.trainable_params / 1e6:.2f} M trainable)"),
            ("MACs", f"{self.macs / 1e9:.2f} G  ({self.gflops:.2f} GFLOPs)"),
            ("activations", f"{self.activation_mib:.1f} MiB (leaf-module outputs, float32)"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def layer_table(self, top: int = 10) -> str:
        """The `top` leaf layers by MACs: name, type, output shape, MACs, output MiB."""
        lines = [f"{'layer':<40} {'type':<16} {'output':<22} {'GMACs':>8} {'MiB':>8}"]
        for r in sorted(self.layers, key=lambda r: -r["macs"])[:top]:
            lines.append(f"{r['name'][:40]:<40} {r['type'][:16]:<16} {str(r['output_shape'])[:22]:<22} "
                         f"{r['macs'] / 1e9:>8.3f} {r['output_bytes'] / 2 ** 20:>8.1f}")
        return "\n".join(lines)


def _layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def model_summary(model: nn.Module, input_size: tuple[int, int] = (480, 640), batch_size: int = 1,
                  meta: bool = True) -> ModelSummary:
    """Parameters, MACs and activation memory of `model` for a (batch_size, 3, H, W) input.

    meta=True (default) measures on a shape-only copy of the model on the "meta" device;
    meta=False runs a real forward pass under torch.no_grad on the model's own device.
    The model itself is left as it was (weights, train/eval mode).
    """
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    net = copy.deepcopy(model).to("meta") if meta else model
    layers, handles = [], []

    def hook(module, inputs, output, name):
        outs = output if isinstance(output, (tuple, list)) else (output,)
        inplace = any(o is i for o in outs for i in inputs)
        nbytes = 0 if inplace else sum(o.numel() * o.element_size() for o in outs if isinstance(o, torch.Tensor))
        layers.append({"name": name, "type": type(module).__name__,
                       "output_shape": tuple(outs[0].shape) if isinstance(outs[0], torch.Tensor) else None,
                       "macs": _layer_macs(module, inputs, outs[0]), "output_bytes": nbytes})

    for name, module in net.named_modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(batch_size, 3, *input_size, device=next(net.parameters()).device)
            out = net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    name = getattr(model, "config", {}).get("name", type(model).__name__)
    return ModelSummary(name=name, input_size=tuple(input_size), batch_size=batch_size,
                        output_shape=tuple(out.shape), params=params, trainable_params=trainable,
                        macs=sum(r["macs"] for r in layers),
                        activation_bytes=sum(r["output_bytes"] for r in layers), layers=layers)


def saved_activation_bytes(model: nn.Module, input_size: tuple[int, int] = (240, 320), batch_size: int = 1) -> int:
    """Bytes of the tensors autograd keeps from one training-mode forward pass for the backward pass.

    A measurement, where `model_summary`'s activation figure is an estimate: every tensor saved for
    backward (conv and BatchNorm inputs, ReLU outputs, concatenations, ...) is counted once, however
    many operations share it; the weights are not counted. It grows with batch_size x H x W, so a
    small input measured here can be scaled up. Runs a real forward pass on the model's device.
    Introduced in lesson 03 (memory at 480x640).
    """
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    param = next(model.parameters())
    was_training = model.training
    model.train()
    state = copy.deepcopy(model.state_dict())      # BatchNorm running statistics move in training mode
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(torch.randn(batch_size, 3, *input_size, device=param.device, dtype=param.dtype))
    finally:
        model.load_state_dict(state)
        model.train(was_training)
    return sum(saved.values())
