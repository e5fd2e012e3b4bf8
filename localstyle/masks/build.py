"""Mask sources by name (``MASKS.SOURCE``): :data:`MASK_SOURCE_REGISTRY` and :func:`build_mask_source`.

Add one by subclassing :class:`~localstyle.masks.base.MaskSource` in its own module and decorating it with
``@MASK_SOURCE_REGISTRY.register(name="mine")``. The built-in modules are listed below and imported when their
source is first built (the predictor's pulls in torch; the annotations' does not).
"""
from localstyle.utils.registry import Registry

MASK_SOURCE_REGISTRY = Registry("MASK_SOURCE", modules={
    "annotations": "localstyle.masks.annotations",
    "predictor": "localstyle.masks.predictor",
    "semantic": "localstyle.masks.semantic",
    "predictor+semantic": "localstyle.masks.semantic",
})
MASK_SOURCE_REGISTRY.__doc__ = "Mask sources by MASKS.SOURCE name; each is a MaskSource built as ``Source(cfg)``."


def build_mask_source(cfg):
    """Build ``cfg.MASKS.SOURCE`` from :data:`MASK_SOURCE_REGISTRY`."""
    return MASK_SOURCE_REGISTRY.build(cfg.MASKS.SOURCE, cfg, "MASKS.SOURCE")
