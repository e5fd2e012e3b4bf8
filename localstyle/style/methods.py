"""Style methods by name: ``STYLE_METHOD_REGISTRY`` and the optimization-based ``gatys`` method.

A method is built once as ``Method(cfg)`` and called as ``stylize(contents, style, alphas)`` on lists of
RGB uint8 regions (already cropped and resized by the runner); it returns stylized regions of the same
sizes. Register a new one with ``@STYLE_METHOD_REGISTRY.register(name="mine")``.
"""
import hashlib

import numpy as np
import torch
from fvcore.common.registry import Registry

from localstyle.style.gatys import GatysOptimizer, resize, scaled_size
from localstyle.style.vgg import build_vgg_from_cfg
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError


class _NamedRegistry(Registry):
    """fvcore ``Registry`` whose ``register`` also accepts an explicit ``name``."""

    def register(self, obj=None, name=None):
        if obj is not None:
            return super().register(obj)

        def deco(cls):
            self._do_register(name or cls.__name__, cls)
            return cls

        return deco


STYLE_METHOD_REGISTRY = _NamedRegistry("STYLE_METHOD")
STYLE_METHOD_REGISTRY.__doc__ = "Style methods by STYLE.METHOD name; each is a class built as ``Method(cfg)``."


def build_style_method(cfg):
    """Build ``cfg.STYLE.METHOD`` from :data:`STYLE_METHOD_REGISTRY`."""
    from localstyle.style import arbitrary, feedforward  # noqa: F401  (these modules register their methods)

    name = cfg.STYLE.METHOD
    try:
        cls = STYLE_METHOD_REGISTRY.get(name)
    except KeyError:
        raise LocalstyleError(
            f"STYLE.METHOD: unknown style method {name!r}; registered: {sorted(k for k, _ in STYLE_METHOD_REGISTRY)}"
        ) from None
    return cls(cfg)


def style_key(style):
    """Cache key of a style image array: a hash of its shape and bytes."""
    style = np.ascontiguousarray(style)
    return hashlib.sha1(repr(style.shape).encode() + style.tobytes()).hexdigest()


def to_tensor(image, device="cpu"):
    """H x W x 3 uint8 RGB -> 1 x 3 x H x W float 0..1."""
    return torch.from_numpy(np.array(image, dtype=np.float32, copy=True)).permute(2, 0, 1)[None].div_(255).to(device)


def to_uint8(tensor):
    """1 x 3 x H x W float 0..1 -> H x W x 3 uint8 RGB."""
    return (tensor[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()).copy()


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
        key = (style_key(style), scale)
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
