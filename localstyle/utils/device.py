"""Choosing the torch device from the config."""
import logging

import torch

logger = logging.getLogger(__name__)


def resolve_device(cfg):
    """``cfg.MODEL.DEVICE``, or cpu (with a warning) when it asks for CUDA and none is available."""
    device = cfg.MODEL.DEVICE
    if device.startswith("cuda") and not torch.cuda.is_available():
        logger.warning("MODEL.DEVICE %s: CUDA is not available, using cpu", device)
        return "cpu"
    return device
