"""Image transforms shared by training (torchvision.transforms.v2) and inference (detectron2-exact resize)."""
import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from localstyle.structures import PolygonMasks
from localstyle.utils.errors import LocalstyleError


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


def resize_for_test(image, min_size, max_size):
    """H x W x 3 uint8 ``image`` resized as detectron2's DefaultPredictor resizes (PIL bilinear on uint8, short side
    ``min_size``, long side at most ``max_size``) -> 3 x H' x W' float32 tensor in the same channel order."""
    from PIL import Image

    height, width = image.shape[:2]
    new_h, new_w = get_output_shape(height, width, min_size, max_size)
    if (new_h, new_w) != (height, width):
        image = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((new_w, new_h), Image.BILINEAR))
    return torch.as_tensor(image.astype("float32").transpose(2, 0, 1))


class ResizeShortestEdge:
    """detectron2's ResizeShortestEdge on tv_tensors: short side from ``short_edge_lengths``, long side capped.

    ``sample_style`` "choice" picks one of the lengths, "range" an integer in [min, max]; the random choice
    comes from the ``numpy.random.Generator`` passed to ``__call__`` (so callers control reproducibility).
    """

    def __init__(self, short_edge_lengths, max_size, sample_style="choice"):
        if isinstance(short_edge_lengths, int):
            short_edge_lengths = (short_edge_lengths,)
        if sample_style not in ("choice", "range"):
            raise LocalstyleError(f"INPUT.MIN_SIZE_TRAIN_SAMPLING must be 'choice' or 'range', got {sample_style!r}")
        if sample_style == "range" and len(short_edge_lengths) != 2:
            raise LocalstyleError(f"INPUT.MIN_SIZE_TRAIN_SAMPLING 'range' needs two sizes, got {short_edge_lengths}")
        self.lengths, self.max_size, self.sample_style = tuple(short_edge_lengths), max_size, sample_style

    def __call__(self, inputs, rng):
        h, w = inputs[0].shape[-2:]
        if self.sample_style == "range":
            short = int(rng.integers(self.lengths[0], self.lengths[1] + 1))
        elif len(self.lengths) == 1:
            short = self.lengths[0]
        else:
            short = self.lengths[int(rng.integers(len(self.lengths)))]
        size = list(get_output_shape(h, w, short, self.max_size))
        return tuple(x.scale(size[1] / w, size[0] / h) if isinstance(x, PolygonMasks)
                     else F.resize(x, size, antialias=True) for x in inputs)


class RandomFlip:
    """Flip image, boxes and masks (bitmaps or :class:`PolygonMasks`) horizontally or vertically with
    probability ``prob``."""

    def __init__(self, direction="horizontal", prob=0.5):
        self.horizontal = direction == "horizontal"
        self.flip = F.horizontal_flip if self.horizontal else F.vertical_flip
        self.prob = prob

    def __call__(self, inputs, rng):
        if rng.uniform() < self.prob:
            return tuple(self._flip(x, inputs[0].shape[-1 if self.horizontal else -2]) for x in inputs)
        return inputs

    def _flip(self, x, axis_length):
        if isinstance(x, PolygonMasks):
            return x.flip(axis_length, self.horizontal)
        if isinstance(x, tv_tensors.Image) and x.dtype == torch.uint8 and x.ndim == 3:
            hwc = x.as_subclass(torch.Tensor).permute(1, 2, 0)
            if hwc.is_contiguous():  # the resized image is channels-last: cv2 flips it exactly, ~30x faster
                flipped = cv2.flip(hwc.numpy(), 1 if self.horizontal else 0)
                return tv_tensors.Image(torch.from_numpy(flipped).permute(2, 0, 1))
        return self.flip(x)


def build_augmentation(cfg, is_train):
    """The training (multi-scale resize + flip) or test (fixed resize) augmentations for ``cfg.INPUT``."""
    if cfg.INPUT.CROP.ENABLED:
        raise LocalstyleError("INPUT.CROP.ENABLED is not supported by localstyle's data pipeline")
    if not is_train:  # MIN_SIZE_TEST 0 disables resizing, as in detectron2
        return [ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)] if cfg.INPUT.MIN_SIZE_TEST else []
    augs = [ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)]
    if cfg.INPUT.RANDOM_FLIP not in ("horizontal", "vertical", "none"):
        raise LocalstyleError(f"INPUT.RANDOM_FLIP must be horizontal, vertical or none, got {cfg.INPUT.RANDOM_FLIP!r}")
    if cfg.INPUT.RANDOM_FLIP != "none":
        augs.append(RandomFlip(cfg.INPUT.RANDOM_FLIP))
    return augs


def contiguous_chw(image):
    """The C x H x W image as a contiguous tensor; channels-last uint8 images are de-interleaved with cv2
    (exactly what ``.contiguous()`` gives, ~20x faster)."""
    image = image.as_subclass(torch.Tensor)
    hwc = image.permute(1, 2, 0)
    if image.is_contiguous() or image.dtype != torch.uint8 or not hwc.is_contiguous() or image.shape[0] > 4:
        return image.contiguous()
    return torch.from_numpy(np.stack(cv2.split(hwc.numpy())))


def apply_augmentations(augs, inputs, rng):
    """Apply ``augs`` in order to a tuple of tv_tensors (Image, BoundingBoxes, Mask or PolygonMasks) consistently."""
    for aug in augs:
        inputs = aug(inputs, rng)
    return inputs
