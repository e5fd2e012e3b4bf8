"""Backbones by name (``MODEL.BACKBONE.NAME``): :data:`BACKBONE_REGISTRY` and :func:`build_backbone`."""
from fvcore.common.registry import Registry

from localstyle.utils.errors import LocalstyleError

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = "Backbone builders by MODEL.BACKBONE.NAME; each is called as ``builder(cfg)``."


def build_backbone(cfg):
    """Build ``cfg.MODEL.BACKBONE.NAME`` from :data:`BACKBONE_REGISTRY`."""
    name = cfg.MODEL.BACKBONE.NAME
    if name not in BACKBONE_REGISTRY:
        raise LocalstyleError(f"MODEL.BACKBONE.NAME {name!r} is not registered "
                              f"(known: {sorted(k for k, _ in BACKBONE_REGISTRY)})")
    return BACKBONE_REGISTRY.get(name)(cfg)
