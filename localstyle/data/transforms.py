"""Image transforms shared by training (torchvision.transforms.v2) and inference (detectron2-exact resize)."""


def get_output_shape(height, width, short_edge, max_size):
    """detectron2's ResizeShortestEdge target shape: scale the short side to ``short_edge``, cap the long side.

    Returns ``(new_height, new_width)`` rounded as detectron2 does (``int(x + 0.5)``).
    """
    scale = short_edge * 1.0 / min(height, width)
    newh, neww = height * scale, width * scale
    if max(newh, neww) > max_size:
        rescale = max_size * 1.0 / max(newh, neww)
        newh, neww = newh * rescale, neww * rescale
    return int(newh + 0.5), int(neww + 0.5)
