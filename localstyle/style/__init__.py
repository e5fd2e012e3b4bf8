"""Neural style transfer: VGG feature extractors and weight sources, normalized losses, Gatys optimization,
and the registry of style methods (``gatys`` here; ``arbitrary`` and ``feedforward`` in their modules)."""
from localstyle.style.gatys import GatysOptimizer
from localstyle.style.methods import STYLE_METHOD_REGISTRY, GatysMethod, build_style_method
from localstyle.style.vgg import VGGFeatures, build_vgg, build_vgg_from_cfg, layer_names, receptive_field

__all__ = ["STYLE_METHOD_REGISTRY", "GatysMethod", "GatysOptimizer", "VGGFeatures", "build_style_method",
           "build_vgg", "build_vgg_from_cfg", "layer_names", "receptive_field"]
