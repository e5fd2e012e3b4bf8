"""Mask sources by name (``MASKS.SOURCE``): :data:`MASK_SOURCE_REGISTRY` and :func:`build_mask_source`.

Add one by subclassing :class:`~localstyle.masks.base.MaskSource` in its own module, decorating it with
``@MASK_SOURCE_REGISTRY.register(name="mine")`` and importing that module in ``localstyle/masks/__init__.py``.
"""
from localstyle.utils.registry import Registry

MASK_SOURCE_REGISTRY = Registry("MASK_SOURCE")
MASK_SOURCE_REGISTRY.__doc__ = "Mask sources by MASKS.SOURCE name; each is a MaskSource built as ``Source(cfg)``."


def build_mask_source(cfg):
    """Build ``cfg.MASKS.SOURCE`` from :data:`MASK_SOURCE_REGISTRY`."""
    return MASK_SOURCE_REGISTRY.build(cfg.MASKS.SOURCE, cfg, "MASKS.SOURCE")
