"""Mask R-CNN (R50/R101-FPN) with detectron2's module and parameter names, built on torchvision ops."""
from localstyle.modeling.backbone import BACKBONE_REGISTRY, build_backbone
from localstyle.modeling.meta_arch import META_ARCH_REGISTRY, GeneralizedRCNN, build_model

__all__ = ["BACKBONE_REGISTRY", "META_ARCH_REGISTRY", "GeneralizedRCNN", "build_backbone", "build_model"]
