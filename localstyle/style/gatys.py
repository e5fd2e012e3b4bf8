"""Gatys et al. optimization-based style transfer: L-BFGS (optional strong-Wolfe) or Adam, coarse to fine."""
import numpy as np
import torch
import torch.nn.functional as F

from localstyle.style.build import STYLE_METHOD_REGISTRY
from localstyle.style.losses import StyleObjective, gram_matrix
from localstyle.style.tensors import to_tensor, to_uint8
from localstyle.style.vgg import build_vgg_from_cfg
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import image_digest


def resize(image, size):
    """Bilinear (antialiased) resize of N x C x H x W to ``(h, w)``."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)


def scaled_size(shape, scale):
    """``(round(h*scale), round(w*scale))``, at least 16 px a side."""
    return tuple(max(16, int(round(s * scale))) for s in shape)


def adam_minimize(image, objective, callback, steps, lr):
    """Adam on the leaf tensor ``image``, projected onto 0..1 after each step; ``callback(step, image)`` every 10
    steps may return True to stop. Returns ``(result, stopped by callback)``."""
    opt = torch.optim.Adam([image], lr=lr)
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss, _ = objective(image)
        loss.backward()
        opt.step()
        with torch.no_grad():
            image.clamp_(0, 1)
        if (step % 10 == 0 or step == steps) and callback(step, image.detach()):
            return image.detach(), True
    return image.detach(), False


def lbfgs_minimize(image, objective, callback, steps, lr, line_search=True):
    """L-BFGS on the leaf tensor ``image`` in chunks of 10 iterations (``callback(done, result)`` after each may
    return True to stop). Returns ``(clamped result, stopped by callback)``.

    L-BFGS minimizes ``objective(clamp(x, 0, 1))``, a smooth descent on what is finally shown,
    rather than clamping the iterate (which breaks L-BFGS's curvature pairs and made the
    objective climb again after ~100 steps).
    """
    chunk = 10
    # no gradient/change tolerances: the normalized losses have tiny per-pixel gradients, and
    # STYLE.GATYS.STEPS decides when to stop
    opt = torch.optim.LBFGS([image], lr=lr, max_iter=chunk, history_size=50, tolerance_grad=0.0,
                            tolerance_change=0.0, line_search_fn="strong_wolfe" if line_search else None)

    def closure():
        opt.zero_grad()
        loss, _ = objective(image.clamp(0, 1))
        loss.backward()
        return loss

    done, state = 0, opt.state[image]
    while done < steps:
        opt.param_groups[0]["max_iter"] = min(chunk, steps - done)
        opt.param_groups[0]["max_eval"] = 2 * opt.param_groups[0]["max_iter"]
        before = state.get("n_iter", 0)
        opt.step(closure)
        ran = state.get("n_iter", 0) - before
        done += max(ran, 1)
        result = image.detach().clamp(0, 1)
        if callback(done, result):
            return result, True
        if ran == 0 or not torch.isfinite(result).all():
            break  # stalled
    return result, False


class GatysOptimizer:
    """Runs the optimization; ``style_grams`` then ``run`` (targets are reusable across images)."""

    def __init__(self, vgg, content_layers, style_layers, content_weight=1.0, style_weight=1.0, tv_weight=0.0,
                 optimizer="lbfgs", line_search=True, steps=100, lr=1.0, adam_lr=0.02, init="content",
                 scales=(1.0,), seed=0):
        if optimizer not in ("lbfgs", "adam"):
            raise LocalstyleError(f"STYLE.GATYS.OPTIMIZER: unknown optimizer {optimizer!r} (use lbfgs or adam)")
        if init not in ("content", "noise"):
            raise LocalstyleError(f"STYLE.GATYS.INIT: unknown init {init!r} (use content or noise)")
        if not scales or any(s <= 0 for s in scales):
            raise LocalstyleError(f"STYLE.GATYS.SCALES: need positive scales, got {list(scales)}")
        self.vgg = vgg
        self.content_layers, self.style_layers = list(content_layers), list(style_layers)
        self.loss_weights = (content_weight, style_weight, tv_weight)
        self.optimizer, self.line_search, self.steps = optimizer, line_search, int(steps)
        self.lr, self.adam_lr, self.init, self.seed = lr, adam_lr, init, seed
        self.scales = sorted(float(s) for s in scales)

    @classmethod
    def from_cfg(cls, cfg, vgg):
        """Build from ``cfg.STYLE.GATYS`` and ``cfg.STYLE.SEED``."""
        g = cfg.STYLE.GATYS
        return cls(vgg, g.CONTENT_LAYERS, g.STYLE_LAYERS, g.CONTENT_WEIGHT, g.STYLE_WEIGHT, g.TV_WEIGHT,
                   g.OPTIMIZER.lower(), g.LINE_SEARCH, g.STEPS, g.LR, g.ADAM_LR, g.INIT, g.SCALES, cfg.STYLE.SEED)

    def style_grams(self, style, scale=1.0):
        """Gram targets ``{layer: 1 x C x C}`` of the N=1 RGB 0..1 ``style`` image resized by ``scale``."""
        style = resize(style, scaled_size(style.shape[-2:], scale))
        with torch.no_grad():
            feats = self.vgg(style, self.style_layers)
        return {k: gram_matrix(feats[k]).detach() for k in self.style_layers}

    def objective(self, content, style_grams, weight=None):
        """The :class:`StyleObjective` this optimizer minimizes for ``content`` (and region ``weight``)."""
        return StyleObjective(self.vgg, content, style_grams, self.content_layers, self.loss_weights, weight)

    def run(self, content, grams_for_scale, weight=None, callback=None):
        """Stylize ``content`` (1 x 3 x H x W, RGB 0..1); returns the image at full size, clamped to 0..1.

        ``grams_for_scale(scale)`` returns the style targets for a scale (cached by the caller);
        ``weight`` (1 x 1 x H x W) restricts the losses to a region; ``callback(scale, step, image)``
        is called every few steps and may return True to stop the whole run early.
        """
        full = tuple(content.shape[-2:])
        gen = torch.Generator().manual_seed(int(self.seed))
        image = prev_c = None
        for scale in self.scales:
            size = scaled_size(full, scale)
            c = resize(content, size)
            w = resize(weight, size) if weight is not None else None
            if image is None:
                image = c.clone() if self.init == "content" else torch.rand(c.shape, generator=gen).to(c)
            else:  # carry the coarse result's change over the content; keep the content's fine detail
                image = (c + resize(image - prev_c, size)).clamp_(0, 1)
            prev_c = c
            objective = self.objective(c, grams_for_scale(scale), w)
            image, stopped = self._optimize(image.contiguous(), objective,
                                            lambda step, x: bool(callback and callback(scale, step, x)))
            if stopped:
                break
        return resize(image, full).clamp_(0, 1)

    def _optimize(self, image, objective, callback):
        """Minimize ``objective`` from ``image`` (:func:`adam_minimize` or :func:`lbfgs_minimize`); returns
        ``(clamped result, stopped by callback)``."""
        image = image.detach().requires_grad_(True)
        if self.optimizer == "adam":
            return adam_minimize(image, objective, callback, self.steps, self.adam_lr)
        return lbfgs_minimize(image, objective, callback, self.steps, self.lr, self.line_search)


@STYLE_METHOD_REGISTRY.register(name="gatys")
class GatysMethod:
    """Gatys optimization with a region-aware loss (``alphas`` weight the content and Gram terms).

    The style image is resized so its longest side is STYLE.SIZE (times each of STYLE.GATYS.SCALES);
    its Gram targets are computed once per style image and scale and reused for every region.
    """

    def __init__(self, cfg):
        self.device = resolve_device(cfg)
        self.vgg = build_vgg_from_cfg(cfg, self.device)
        self.optimizer = GatysOptimizer.from_cfg(cfg, self.vgg)
        self.style_size = int(cfg.STYLE.SIZE)
        self._targets = {}

    def style_targets(self, style, scale=1.0):
        """Gram targets of ``style`` (uint8 RGB) at ``scale``; computed once, then cached."""
        key = (image_digest(style), scale)
        if key not in self._targets:
            s = to_tensor(style, self.device)
            if self.style_size > 0:
                s = resize(s, scaled_size(s.shape[-2:], self.style_size / max(s.shape[-2:])))
            self._targets[key] = self.optimizer.style_grams(s, scale)
        return self._targets[key]

    def stylize(self, contents, style, alphas):
        """Stylize each content region toward ``style`` inside its alpha; returns uint8 RGB regions."""
        out = []
        for content, alpha in zip(contents, alphas):
            c = to_tensor(content, self.device)
            w = None
            if alpha is not None and np.any(alpha > 0):
                w = torch.from_numpy(np.asarray(alpha, np.float32))[None, None].to(self.device)
            result = self.optimizer.run(c, lambda scale: self.style_targets(style, scale), w)
            out.append(to_uint8(result))
        return out
