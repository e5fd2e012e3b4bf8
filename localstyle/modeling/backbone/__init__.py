"""Backbones: ResNet (``build_resnet_backbone``) and ResNet-FPN (``build_resnet_fpn_backbone``)."""
from fvcore.common.registry import Registry

from localstyle.modeling.backbone.fpn import FPN, build_resnet_fpn_backbone
from localstyle.modeling.backbone.resnet import ResNet, build_resnet_backbone
from localstyle.utils.errors import LocalstyleError

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.register(build_resnet_fpn_backbone)


def build_backbone(cfg):
    """Build ``cfg.MODEL.BACKBONE.NAME`` from BACKBONE_REGISTRY (default: ``build_resnet_fpn_backbone``)."""
    name = cfg.MODEL.BACKBONE.NAME
    if name not in BACKBONE_REGISTRY:
        raise LocalstyleError(f"MODEL.BACKBONE.NAME {name!r} is not registered "
                              f"(known: {sorted(BACKBONE_REGISTRY._obj_map)})")
    return BACKBONE_REGISTRY.get(name)(cfg)


__all__ = ["BACKBONE_REGISTRY", "FPN", "ResNet", "build_backbone", "build_resnet_backbone",
           "build_resnet_fpn_backbone"]
