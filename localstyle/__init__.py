"""localstyle: detectron2-compatible Mask R-CNN for people, and neural style transfer where it finds them."""

__version__ = "0.1.0"
