"""Backbones: ResNet (``build_resnet_backbone``), ResNet-FPN (``build_resnet_fpn_backbone``) and the dilated ResNet
of DeepLabv3 (``build_resnet_deeplab_backbone``) and a frozen ImageNet VGG (``build_vgg_backbone``), registered in
:data:`BACKBONE_REGISTRY` by their modules."""
from localstyle.modeling.backbone.build import BACKBONE_REGISTRY, build_backbone
from localstyle.modeling.backbone.fpn import FPN, build_resnet_fpn_backbone
from localstyle.modeling.backbone.resnet import ResNet, build_resnet_backbone, build_resnet_deeplab_backbone
from localstyle.modeling.backbone.vgg import VGGBackbone, build_vgg_backbone

__all__ = ["BACKBONE_REGISTRY", "FPN", "ResNet", "build_backbone", "build_resnet_backbone",
           "build_resnet_deeplab_backbone", "build_resnet_fpn_backbone", "VGGBackbone", "build_vgg_backbone"]
