"""Neural style transfer: VGG feature extractors and weight sources, normalized losses, and the style methods.

Importing this package registers every method in :data:`STYLE_METHOD_REGISTRY` (``gatys``, ``arbitrary``,
``feedforward``; each module registers itself); build one with :func:`build_style_method`.
"""
from localstyle.style import arbitrary, feedforward, gatys  # noqa: F401  (register the methods)
from localstyle.style.build import STYLE_METHOD_REGISTRY, build_style_method
from localstyle.style.gatys import GatysMethod, GatysOptimizer
from localstyle.style.vgg import VGGFeatures, build_vgg, build_vgg_from_cfg, layer_names, receptive_field

__all__ = ["STYLE_METHOD_REGISTRY", "GatysMethod", "GatysOptimizer", "VGGFeatures", "build_style_method",
           "build_vgg", "build_vgg_from_cfg", "layer_names", "receptive_field"]
