"""Mask sources: where the instances to style come from (``MASKS.SOURCE``).

The sources (``annotations``, ``predictor``, ``semantic``, ``predictor+semantic``) live in modules of their own
that register themselves in :data:`MASK_SOURCE_REGISTRY`; :func:`build_mask_source` imports the one a config
names on first use. The interface is in :mod:`localstyle.masks.base`.
"""
from localstyle.masks.base import Detections, MaskSource
from localstyle.masks.build import MASK_SOURCE_REGISTRY, build_mask_source

__all__ = ["MASK_SOURCE_REGISTRY", "Detections", "MaskSource", "build_mask_source"]
