"""Style-transfer losses, normalized so one set of weights works across VGG weight sources and sizes.

Every term is a relative squared error: Gram matrices are divided by (C x area), content errors by the
target's energy and style errors by the target Gram's squared norm. Caffe VGG (0..255 input) and
torchvision VGG (ImageNet-normalized input) then give losses of the same order, and the balance between
content and style does not move with the image size. ``weight`` maps (N x 1 x h x w, 0..1) restrict a
term to a region (the feathered alpha of the selected instances): the region-aware loss.
"""
import torch
import torch.nn.functional as F


def resize_weight(weight, size):
    """Area-average a N x 1 x H x W weight map down to a feature map's ``(h, w)``."""
    if weight is None or tuple(weight.shape[-2:]) == tuple(size):
        return weight
    return F.adaptive_avg_pool2d(weight, size)


def gram_matrix(feat, weight=None):
    """N x C x C Gram matrix of ``feat`` over the (weighted) positions, divided by C x area."""
    n, c, h, w = feat.shape
    f = feat.reshape(n, c, h * w)
    if weight is None:
        return f @ f.transpose(1, 2) / (c * h * w)
    wt = resize_weight(weight, (h, w)).reshape(n, 1, h * w)
    area = wt.sum(dim=2, keepdim=True).clamp_min(1e-6)
    return (f * wt) @ f.transpose(1, 2) / (c * area)


def style_loss(gram, target_gram):
    """Squared Gram error divided by the target Gram's squared norm (per image, then mean)."""
    err = (gram - target_gram).pow(2).flatten(1).sum(1)
    return (err / target_gram.pow(2).flatten(1).sum(1).clamp_min(1e-12)).mean()


def content_loss(feat, target, weight=None):
    """Squared feature error divided by the target's energy, over the (weighted) positions."""
    wt = resize_weight(weight, feat.shape[-2:])
    diff, energy = (feat - target).pow(2), target.pow(2)
    if wt is not None:
        diff, energy = diff * wt, energy * wt
    return (diff.flatten(1).sum(1) / energy.flatten(1).sum(1).clamp_min(1e-12)).mean()


def tv_loss(image, weight=None):
    """Mean squared difference between neighbouring pixels (of an RGB 0..1 image)."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2)
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2)
    if weight is not None:
        dx, dy = dx * weight[..., :, 1:], dy * weight[..., 1:, :]
    return dx.mean() + dy.mean()


def perceptual_losses(feats, content_targets, style_grams, image, weight=None, tv=True):
    """``{"content", "style", "tv"}`` losses of ``image`` (N x 3 x H x W) from its VGG features ``feats``.

    ``content_targets``: ``{layer: target features}``; ``style_grams``: ``{layer: target Gram}`` (1 x C x C
    broadcasts over the batch); each term is averaged over its layers. Features are taken in float32 (AMP).
    ``tv=False`` leaves the TV term at zero.
    """
    c = sum(content_loss(feats[k].float(), t.float(), weight) for k, t in content_targets.items())
    c = c / max(len(content_targets), 1)
    s = sum(style_loss(gram_matrix(feats[k].float(), weight), g) for k, g in style_grams.items())
    s = s / max(len(style_grams), 1)
    t = tv_loss(image.float(), weight) if tv else image.new_zeros(())
    return {"content": c, "style": s, "tv": t}


class StyleObjective:
    """Weighted sum of content, style and TV losses of one image against fixed targets.

    ``style_grams`` are the style image's Gram matrices (computed once per style and size);
    ``content`` is the N x 3 x H x W RGB 0..1 content image; ``weight`` an optional region map.
    """

    def __init__(self, vgg, content, style_grams, content_layers, weights=(1.0, 1.0, 0.0), weight=None):
        self.vgg, self.weight = vgg, weight
        self.content_layers, self.style_layers = list(content_layers), list(style_grams)
        self.style_grams = style_grams
        self.content_weight, self.style_weight, self.tv_weight = weights
        with torch.no_grad():
            feats = vgg(content, self.content_layers)
        self.content_targets = {k: feats[k].detach() for k in self.content_layers}

    def __call__(self, image):
        """``(total, {"content": c, "style": s, "tv": t})`` for N x 3 x H x W ``image``."""
        feats = self.vgg(image, self.content_layers + self.style_layers)
        losses = perceptual_losses(feats, self.content_targets, self.style_grams, image, self.weight,
                                   tv=bool(self.tv_weight))
        total = self.content_weight * losses["content"] + self.style_weight * losses["style"] \
            + self.tv_weight * losses["tv"]
        return total, {k: v.detach() for k, v in losses.items()}
