"""Where and how styles go: instance selection, alpha masks, crops, blending and comparison strips.

Everything here is shared by all style methods, so compositing looks the same whichever method ran.
"""
from localstyle.compose.composite import blend, crop_boxes, preserve_color
from localstyle.compose.masks import build_alpha, feather, invert, quantize_alpha, refine_mask, union_alpha
from localstyle.compose.select import resolve_classes, select_instances
from localstyle.compose.strip import captioned_row, comparison_strip, segmentation_overlay

__all__ = [
    "blend", "build_alpha", "captioned_row", "comparison_strip", "crop_boxes", "feather", "invert",
    "preserve_color", "quantize_alpha", "refine_mask", "resolve_classes", "segmentation_overlay", "select_instances",
    "union_alpha",
]
