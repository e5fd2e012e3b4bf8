"""Mask sources: where the instances to style come from (``MASKS.SOURCE``).

Importing this package registers every source in :data:`MASK_SOURCE_REGISTRY` (``annotations``,
``predictor``, ``semantic``, ``predictor+semantic``); build one with :func:`build_mask_source`. The interface is
in :mod:`localstyle.masks.base`.
"""
from localstyle.masks import annotations, predictor, semantic  # noqa: F401  (register the sources)
from localstyle.masks.base import Detections, MaskSource
from localstyle.masks.build import MASK_SOURCE_REGISTRY, build_mask_source

__all__ = ["MASK_SOURCE_REGISTRY", "Detections", "MaskSource", "build_mask_source"]
