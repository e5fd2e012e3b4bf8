"""Mask R-CNN (R50/R101-FPN) with detectron2's module and parameter names, built on torchvision ops, and the
DeepLabv3 semantic segmentor (``SemanticSegmentor``)."""
from localstyle.modeling.backbone import BACKBONE_REGISTRY, build_backbone
from localstyle.modeling.meta_arch import META_ARCH_REGISTRY, GeneralizedRCNN, build_model
from localstyle.modeling.semantic_seg import SEM_SEG_HEADS_REGISTRY, SemanticSegmentor

__all__ = ["BACKBONE_REGISTRY", "META_ARCH_REGISTRY", "SEM_SEG_HEADS_REGISTRY", "GeneralizedRCNN",
           "SemanticSegmentor", "build_backbone", "build_model"]
