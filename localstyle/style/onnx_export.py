"""Export a trained feed-forward style network to ONNX, so it runs with onnxruntime and no PyTorch.

The exported graph takes ``image`` (N x 3 x H x W, RGB 0..1, H and W multiples of 4; batch and size are
free) and returns ``stylized`` in the same layout, clamped to 0..1.
"""
import os
import warnings

import torch
from torch import nn

from localstyle.style.feedforward import load_transformer_net
from localstyle.utils.file_io import atomic_open

OPSET = 17


class _Clamped(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, image):
        return self.net(image).clamp(0.0, 1.0)


def export_onnx(net_or_checkpoint, output_path, sample_size=256):
    """Write ``output_path`` (.onnx, atomically) from a TransformerNet or a ``.pth`` checkpoint path."""
    net = net_or_checkpoint
    if isinstance(net, (str, os.PathLike)):
        net = load_transformer_net(os.fspath(net))
    model = _Clamped(net).cpu().float().eval()
    sample = torch.rand(1, 3, sample_size, sample_size)
    axes = {0: "batch", 2: "height", 3: "width"}
    # The TorchScript exporter (the torch.export one needs the onnxscript package) warns that it is
    # legacy, that instance norm uses per-image statistics (as intended) and about tracing shape checks;
    # none changes the graph, which the tests compare against PyTorch.
    with atomic_open(output_path, "wb") as f, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (sample,), f, input_names=["image"], output_names=["stylized"],
            dynamic_axes={"image": axes, "stylized": axes}, opset_version=OPSET, dynamo=False,
        )
    return output_path
