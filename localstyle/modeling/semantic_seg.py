"""Semantic segmentation: detectron2's ``SemanticSegmentor`` meta-architecture (backbone -> ``sem_seg_head``) and
the DeepLabv3 head of torchvision (ASPP + 3x3 conv classifier, optional auxiliary FCN head on res4)."""
import torch
from fvcore.common.registry import Registry
from torch import nn
from torch.nn import functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.models.segmentation.fcn import FCNHead

from localstyle.modeling.backbone import build_backbone
from localstyle.modeling.feature_cache import FeatureCache
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


def upsample(x, size):
    """Bilinear resize of N x C x h x w logits or features to ``size``."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


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
        logits = upsample(self.classifier(features[self.in_feature]), size)
        if targets is None:
            return logits
        losses = {"loss_sem_seg": segmentation_loss(logits, targets, self.ignore_value) * self.loss_weight}
        if self.aux_classifier is not None:
            aux = upsample(self.aux_classifier(features["res4"]), size)
            losses["loss_sem_seg_aux"] = segmentation_loss(aux, targets, self.ignore_value) * self.aux_loss_weight
        return losses


@SEM_SEG_HEADS_REGISTRY.register()
class DeepLabV3PlusHead(nn.Module):
    """DeepLabv3+ (Chen et al. 2018): ASPP on the deeper of two IN_FEATURES, upsampled to the shallower one's grid,
    concatenated with that map reduced to 48 channels, then a 3x3 conv-BN-ReLU and a 1x1 to classes."""

    def __init__(self, cfg, input_shape):
        super().__init__()
        h = cfg.MODEL.SEM_SEG_HEAD
        if len(h.IN_FEATURES) != 2 or any(f not in input_shape for f in h.IN_FEATURES):
            raise LocalstyleError(f"DeepLabV3PlusHead needs MODEL.SEM_SEG_HEAD.IN_FEATURES [shallow, deep] among the "
                                  f"backbone's features {sorted(input_shape)}, got {list(h.IN_FEATURES)}")
        self.low_feature, self.in_feature = h.IN_FEATURES
        self.ignore_value, self.loss_weight = h.IGNORE_VALUE, h.LOSS_WEIGHT
        ch = h.ASPP_CHANNELS
        self.aspp = ASPP(input_shape[self.in_feature][0], list(h.ASPP_DILATIONS), ch)
        self.reduce = nn.Sequential(nn.Conv2d(input_shape[self.low_feature][0], 48, 1, bias=False),
                                    nn.BatchNorm2d(48), nn.ReLU())
        self.classifier = nn.Sequential(nn.Conv2d(ch + 48, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch),
                                        nn.ReLU(), nn.Conv2d(ch, h.NUM_CLASSES, 1))

    def forward(self, features, size, targets=None):
        """Logits (N x classes x ``size``) in eval mode; the weighted loss given ``targets`` (N x ``size``)."""
        low = self.reduce(features[self.low_feature])
        x = torch.cat([upsample(self.aspp(features[self.in_feature]), low.shape[-2:]), low], dim=1)
        logits = upsample(self.classifier(x), size)
        if targets is None:
            return logits
        return {"loss_sem_seg": segmentation_loss(logits, targets, self.ignore_value) * self.loss_weight}


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
        prior = list(cfg.MODEL.SEM_SEG_HEAD.TRAIN_CLASS_PRIOR)
        if prior and (len(prior) != len(self.class_names) or min(prior) <= 0):
            raise LocalstyleError(f"MODEL.SEM_SEG_HEAD.TRAIN_CLASS_PRIOR needs {len(self.class_names)} positive "
                                  f"shares ({', '.join(self.class_names)}), got {prior}")
        self.register_buffer("log_prior", torch.log(torch.tensor(prior) / sum(prior)) if prior else None, False)
        cache_mb = cfg.MODEL.BACKBONE.FEATURE_CACHE_MB
        self.feature_cache = FeatureCache(self.backbone, cache_mb) if cache_mb > 0 else None
        init_pixel_normalization(self, cfg)

    @property
    def device(self):
        return self.pixel_mean.device

    def forward(self, batched_inputs):
        images, image_sizes = preprocess_images(self, batched_inputs, 1)
        size = tuple(images.shape[-2:])
        if self.training and self.feature_cache is not None:
            features = self.feature_cache([im[:, :h, :w] for im, (h, w) in zip(images, image_sizes)], size)
        else:
            features = self.backbone(images)
        if not self.training:
            return self._postprocess(self.sem_seg_head(features, size), batched_inputs, image_sizes)
        if any("sem_seg" not in x for x in batched_inputs):
            raise LocalstyleError("training inputs need a 'sem_seg' label map (use the semantic dataset mapper)")
        if len(batched_inputs) < 2:
            raise LocalstyleError("DeepLabV3Head trains on at least 2 images per process (BatchNorm after ASPP's "
                                  "global pooling): raise SOLVER.IMS_PER_BATCH")
        targets = pad_images([x["sem_seg"].to(self.device)[None] for x in batched_inputs], 1, self.ignore_value)
        return self.sem_seg_head(features, size, targets[:, 0].long())

    def _postprocess(self, logits, batched_inputs, image_sizes):
        """Crop each image's logits, resize them to its ``height`` x ``width`` and take the softmax (of the
        prior-adjusted logits when MODEL.SEM_SEG_HEAD.TRAIN_CLASS_PRIOR is given)."""
        if self.log_prior is not None:
            logits = logits - self.log_prior.view(1, -1, 1, 1).to(logits.dtype)
        outputs = []
        for x, inp, (h, w) in zip(logits, batched_inputs, image_sizes):
            out_size = (inp.get("height", h), inp.get("width", w))
            x = x[None, :, :h, :w]
            if (h, w) != out_size:
                x = upsample(x, out_size)
            outputs.append({"sem_seg": torch.softmax(x[0].float(), dim=0)})
        return outputs
