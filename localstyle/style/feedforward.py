"""``STYLE.METHOD: feedforward``: a per-style Johnson network trained with train_style_net.py.

``STYLE.WEIGHTS`` is either a ``.pth`` checkpoint written by :mod:`localstyle.style.train_feedforward`
(run with PyTorch on ``MODEL.DEVICE``) or an ``.onnx`` file written by :mod:`localstyle.style.onnx_export`
(run with onnxruntime, no PyTorch needed at inference). The style is baked into the network, so the
style image passed to :meth:`FeedForwardStyle.stylize` is not used.
"""
import logging
import os

import torch

from localstyle.style.build import STYLE_METHOD_REGISTRY
from localstyle.style.onnx_batching import onnx_providers, open_session, stylize_in_batches
from localstyle.style.transformer_net import TransformerNet
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.safe_pickle import load_weights_file

logger = logging.getLogger(__name__)


def network_from_state_dict(state, source="checkpoint"):
    """Rebuild a :class:`TransformerNet` from its state dict (width and depth read from the shapes)."""
    if "down.0.1.weight" not in state:
        raise LocalstyleError(f"{source}: not a localstyle TransformerNet state dict (no 'down.0.1.weight')")
    channels = state["down.0.1.weight"].shape[0]
    blocks = {k.split(".")[1] for k in state if k.startswith("residual.")}
    net = TransformerNet(channels, len(blocks))
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise LocalstyleError(f"{source}: state dict does not match TransformerNet ({first})") from None
    return net


def load_transformer_net(path, device="cpu"):
    """Load a feed-forward style network from a ``.pth`` checkpoint (``{"model": state_dict, ...}``)."""
    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: feed-forward style weights not found (STYLE.WEIGHTS)")
    ckpt = load_weights_file(path, label="STYLE.WEIGHTS ")
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise LocalstyleError(f"{path}: expected a checkpoint dict with a 'model' state dict")
    return network_from_state_dict(state, path).to(device).eval()


@STYLE_METHOD_REGISTRY.register(name="feedforward")
class FeedForwardStyle:
    """Stylize batches with one trained network; regions larger than STYLE.SIZE (longest side) are shrunk."""

    def __init__(self, cfg):
        path = os.path.expanduser(cfg.STYLE.WEIGHTS)
        if not path:
            raise LocalstyleError("STYLE.METHOD feedforward needs STYLE.WEIGHTS (a .pth checkpoint or .onnx file)")
        self.size, self.max_batch = cfg.STYLE.SIZE, max(1, cfg.STYLIZE.BATCH_SIZE)
        if path.lower().endswith(".onnx"):
            self.session = open_session(path, onnx_providers(cfg.MODEL.DEVICE))
            self.net = None
        else:
            self.device = resolve_device(cfg)
            self.net = load_transformer_net(path, self.device)
            self.session = None
        logger.info("feed-forward style network %s (%s)", path, "onnxruntime" if self.net is None else "PyTorch")

    def _run_torch(self, batch, indices):
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            return self.net(x).float().clamp(0.0, 1.0).cpu().numpy()

    def _run_onnx(self, batch, indices):
        return self.session.run(None, {self.session.get_inputs()[0].name: batch})[0]

    def stylize(self, contents, style=None, alphas=None):
        """Stylize RGB uint8 images (the style is the one the network was trained on)."""
        run = self._run_onnx if self.net is None else self._run_torch
        return stylize_in_batches(contents, self.size, self.max_batch, run, channels_first=True)

