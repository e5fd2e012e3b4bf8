"""Backbones: ResNet (``build_resnet_backbone``) and ResNet-FPN (``build_resnet_fpn_backbone``), registered in
:data:`BACKBONE_REGISTRY` by their modules."""
from localstyle.modeling.backbone.build import BACKBONE_REGISTRY, build_backbone
from localstyle.modeling.backbone.fpn import FPN, build_resnet_fpn_backbone
from localstyle.modeling.backbone.resnet import ResNet, build_resnet_backbone

__all__ = ["BACKBONE_REGISTRY", "FPN", "ResNet", "build_backbone", "build_resnet_backbone",
           "build_resnet_fpn_backbone"]
