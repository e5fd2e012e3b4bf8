"""Neural style transfer: VGG feature extractors and weight sources, normalized losses, and the style methods.

The methods (``gatys``, ``arbitrary``, ``feedforward``) live in modules of their own that register themselves in
:data:`STYLE_METHOD_REGISTRY`; :func:`build_style_method` imports the one a config names on first use, so this
package imports no torch: the ONNX methods run without it.
"""
from localstyle.style.build import STYLE_METHOD_REGISTRY, build_style_method

__all__ = ["STYLE_METHOD_REGISTRY", "build_style_method"]
