"""Backbone features computed once: training a head on a frozen backbone with a finite set of augmented images
(a few scales x flips) computes each image's features the first time only (``MODEL.BACKBONE.FEATURE_CACHE_MB``)."""
import hashlib
from collections import OrderedDict

import torch
from torch.nn import functional as F

from localstyle.modeling.meta_arch import pad_images
from localstyle.utils.errors import LocalstyleError


class FeatureCache:
    """Per-image backbone features keyed by the digest of the image, kept in bfloat16 on the CPU, least recently
    used dropped beyond ``max_mb``. ``hits`` / ``misses`` count look-ups."""

    def __init__(self, backbone, max_mb):
        if any(p.requires_grad for p in backbone.parameters()):
            raise LocalstyleError("MODEL.BACKBONE.FEATURE_CACHE_MB needs a frozen backbone (every parameter fixed: "
                                  "e.g. build_vgg_backbone, or a ResNet with MODEL.BACKBONE.FREEZE_AT 5)")
        self.backbone, self.max_bytes = backbone, max_mb * 2 ** 20
        self.entries, self.bytes, self.hits, self.misses = OrderedDict(), 0, 0, 0

    def _features(self, image):
        key = hashlib.blake2b(image.detach().cpu().numpy().tobytes(), digest_size=16).digest()
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            return self.entries[key]
        self.misses += 1
        d = max(1, self.backbone.size_divisibility)
        with torch.no_grad():
            feats = self.backbone(pad_images([image], d))
        feats = {k: v[0].to("cpu", torch.bfloat16) for k, v in feats.items()}
        self.entries[key] = feats
        self.bytes += sum(v.numel() * v.element_size() for v in feats.values())
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            _, old = self.entries.popitem(last=False)
            self.bytes -= sum(v.numel() * v.element_size() for v in old.values())
        return feats

    def __call__(self, images, padded_size):
        """Features of the batch of (normalized, unpadded) ``images``, each computed alone and zero-padded to the
        grid of the ``padded_size`` batch, as the backbone would return them (float32, on the images' device)."""
        per_image = [self._features(im) for im in images]
        out = {}
        for name, (_, stride) in self.backbone.output_shape().items():
            h, w = (-(-s // stride) for s in padded_size)
            out[name] = torch.stack([F.pad(f[name], (0, w - f[name].shape[-1], 0, h - f[name].shape[-2]))
                                     for f in per_image]).to(images[0].device, torch.float32)
        return out
