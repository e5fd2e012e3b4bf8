"""Choosing the torch device from the config: ``MODEL.DEVICE`` "auto" (the default), "cpu", "cuda", "cuda:N"."""
import logging

logger = logging.getLogger(__name__)


def resolve_device(cfg):
    """``cfg.MODEL.DEVICE`` as a torch device string: "auto" is cuda when a GPU is available, else cpu (silently);
    an explicit cuda without one falls back to cpu with a warning."""
    import torch

    device = cfg.MODEL.DEVICE
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE %s: CUDA is not available, using cpu", device)
        return "cpu"
    return device
