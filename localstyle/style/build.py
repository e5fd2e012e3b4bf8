"""Style methods by name (``STYLE.METHOD``): :data:`STYLE_METHOD_REGISTRY` and :func:`build_style_method`.

A method is built once as ``Method(cfg)`` and called as ``stylize(contents, style, alphas)`` on lists of
RGB uint8 regions (already cropped and resized by the runner); it returns stylized regions of the same
sizes. Each method registers itself with ``@STYLE_METHOD_REGISTRY.register(name="mine")`` in its own module.
The built-in modules are listed below and imported when their method is first built, so the ONNX methods
start without importing torch; a new method's module is either listed here or imported by its user.
"""
from localstyle.utils.registry import Registry

STYLE_METHOD_REGISTRY = Registry("STYLE_METHOD", modules={
    "arbitrary": "localstyle.style.arbitrary",
    "feedforward": "localstyle.style.feedforward",
    "gatys": "localstyle.style.gatys",
})
STYLE_METHOD_REGISTRY.__doc__ = "Style methods by STYLE.METHOD name; each is a class built as ``Method(cfg)``."


def build_style_method(cfg):
    """Build ``cfg.STYLE.METHOD`` from :data:`STYLE_METHOD_REGISTRY`."""
    return STYLE_METHOD_REGISTRY.build(cfg.STYLE.METHOD, cfg, "STYLE.METHOD")
