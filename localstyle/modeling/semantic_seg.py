"""Semantic segmentation: detectron2's ``SemanticSegmentor`` meta-architecture (backbone -> ``sem_seg_head``) and
the DeepLabv3 head of torchvision (ASPP + 3x3 conv classifier, optional auxiliary FCN head on res4)."""
import torch
from fvcore.common.registry import Registry
from torch import nn
from torch.nn import functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.models.segmentation.fcn import FCNHead

from localstyle.modeling.backbone import build_backbone
from localstyle.modeling.meta_arch import (
    META_ARCH_REGISTRY,
    init_pixel_normalization,
    pad_images,
    preprocess_images,
)
from localstyle.utils.errors import LocalstyleError

SEM_SEG_HEADS_REGISTRY = Registry("SEM_SEG_HEADS")
SEM_SEG_HEADS_REGISTRY.__doc__ = "Semantic segmentation heads: ``cls(cfg, input_shape)``; MODEL.SEM_SEG_HEAD.NAME."


def semantic_class_names(cfg):
    """``["background", *MODEL.SEM_SEG_HEAD.CLASSES]``, checked against MODEL.SEM_SEG_HEAD.NUM_CLASSES."""
    head = cfg.MODEL.SEM_SEG_HEAD
    names = ["background", *head.CLASSES]
    if head.NUM_CLASSES != len(names):
        raise LocalstyleError(f"MODEL.SEM_SEG_HEAD.NUM_CLASSES is {head.NUM_CLASSES} but CLASSES {list(head.CLASSES)} "
                              f"plus background make {len(names)}")
    return names


def segmentation_loss(logits, targets, ignore_value):
    """Pixel-averaged cross-entropy over the labels that are not ``ignore_value`` (0 when there are none)."""
    total = F.cross_entropy(logits.float(), targets, ignore_index=ignore_value, reduction="sum")
    return total / (targets != ignore_value).sum().clamp(min=1)


@SEM_SEG_HEADS_REGISTRY.register()
class DeepLabV3Head(nn.Module):
    """torchvision's DeepLabv3 ``classifier`` (ASPP, conv-BN-ReLU, 1x1 to classes) on the last IN_FEATURES map
    and, with AUX_LOSS_WEIGHT > 0, its ``aux_classifier`` (FCNHead) on res4; same module names and layout, so
    torchvision's ``deeplabv3_resnet50/101`` weights load by name."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        h = cfg.MODEL.SEM_SEG_HEAD
        self.in_feature = h.IN_FEATURES[-1]
        self.ignore_value, self.loss_weight, self.aux_loss_weight = h.IGNORE_VALUE, h.LOSS_WEIGHT, h.AUX_LOSS_WEIGHT
        needed = [self.in_feature] + (["res4"] if self.aux_loss_weight > 0 else [])
        missing = [f for f in needed if f not in input_shape]
        if missing:
            raise LocalstyleError(f"DeepLabV3Head needs backbone features {missing}: add them to "
                                  f"MODEL.RESNETS.OUT_FEATURES (has {sorted(input_shape)})")
        ch = h.ASPP_CHANNELS
        self.classifier = nn.Sequential(
            ASPP(input_shape[self.in_feature][0], list(h.ASPP_DILATIONS), ch),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch), nn.ReLU(),
            nn.Conv2d(ch, h.NUM_CLASSES, 1),
        )
        self.aux_classifier = FCNHead(input_shape["res4"][0], h.NUM_CLASSES) if self.aux_loss_weight > 0 else None

    def forward(self, features, size, targets=None):
        """Logits (N x classes x ``size``) in eval mode; the weighted losses given ``targets`` (N x ``size``)."""
        logits = F.interpolate(self.classifier(features[self.in_feature]), size=size, mode="bilinear",
                               align_corners=False)
        if targets is None:
            return logits
        losses = {"loss_sem_seg": segmentation_loss(logits, targets, self.ignore_value) * self.loss_weight}
        if self.aux_classifier is not None:
            aux = F.interpolate(self.aux_classifier(features["res4"]), size=size, mode="bilinear",
                                align_corners=False)
            losses["loss_sem_seg_aux"] = segmentation_loss(aux, targets, self.ignore_value) * self.aux_loss_weight
        return losses


@META_ARCH_REGISTRY.register()
class SemanticSegmentor(nn.Module):
    """``model(list_of_dicts)`` -> losses (training) or ``[{"sem_seg": C x H x W class probabilities}]`` (eval).

    Inputs as for GeneralizedRCNN (``image``, optional ``height``/``width`` of the output); training inputs carry
    ``sem_seg`` (H x W int64 labels in the resized image, IGNORE_VALUE for pixels without a label).
    ``class_names[k]`` names output channel k (``background`` first).
    """

    def __init__(self, cfg):
        super().__init__()
        self.class_names = semantic_class_names(cfg)
        self.backbone = build_backbone(cfg)
        name = cfg.MODEL.SEM_SEG_HEAD.NAME
        if name not in SEM_SEG_HEADS_REGISTRY:
            raise LocalstyleError(f"MODEL.SEM_SEG_HEAD.NAME {name!r} is not registered "
                                  f"(known: {sorted(k for k, _ in SEM_SEG_HEADS_REGISTRY)})")
        self.sem_seg_head = SEM_SEG_HEADS_REGISTRY.get(name)(cfg, self.backbone.output_shape())
        self.ignore_value = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
        init_pixel_normalization(self, cfg)

    @property
    def device(self):
        return self.pixel_mean.device

    def forward(self, batched_inputs):
        images, image_sizes = preprocess_images(self, batched_inputs, 1)
        features = self.backbone(images)
        size = tuple(images.shape[-2:])
        if not self.training:
            return self._postprocess(self.sem_seg_head(features, size), batched_inputs, image_sizes)
        if any("sem_seg" not in x for x in batched_inputs):
            raise LocalstyleError("training inputs need a 'sem_seg' label map (use the semantic dataset mapper)")
        if len(batched_inputs) < 2:
            raise LocalstyleError("DeepLabV3Head trains on at least 2 images per process (BatchNorm after ASPP's "
                                  "global pooling): raise SOLVER.IMS_PER_BATCH")
        targets = pad_images([x["sem_seg"].to(self.device)[None] for x in batched_inputs], 1, self.ignore_value)
        return self.sem_seg_head(features, size, targets[:, 0].long())

    @staticmethod
    def _postprocess(logits, batched_inputs, image_sizes):
        """Crop each image's logits, resize them to its ``height`` x ``width`` and take the softmax."""
        outputs = []
        for x, inp, (h, w) in zip(logits, batched_inputs, image_sizes):
            out_size = (inp.get("height", h), inp.get("width", w))
            x = x[None, :, :h, :w]
            if (h, w) != out_size:
                x = F.interpolate(x, size=out_size, mode="bilinear", align_corners=False)
            outputs.append({"sem_seg": torch.softmax(x[0].float(), dim=0)})
        return outputs
