"""MODEL.DEVICE "auto" (the default): CUDA when there is a GPU, else the CPU, without the warning an explicit
"cuda" gets on a machine without one."""
import logging

import onnxruntime
import torch

from localstyle.config import get_cfg
from localstyle.style.onnx_batching import onnx_providers
from localstyle.utils.device import resolve_device


def _cfg(device):
    cfg = get_cfg()
    cfg.MODEL.DEVICE = device
    return cfg


def test_auto_is_the_default_and_silent(caplog):
    assert get_cfg().MODEL.DEVICE == "auto"
    with caplog.at_level(logging.WARNING):
        device = resolve_device(_cfg("auto"))
        providers = onnx_providers("auto")
    assert device == ("cuda" if torch.cuda.is_available() else "cpu")
    has_cuda_provider = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert (providers[0][0] == "CUDAExecutionProvider") if has_cuda_provider else providers == ["CPUExecutionProvider"]
    assert not caplog.records


def test_explicit_devices_kept():
    assert resolve_device(_cfg("cpu")) == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device(_cfg("cuda")) == "cpu"  # with a warning, as before
