"""The per-image plan: which instances get which style, their alphas, and the crops to stylize.

:class:`Planner` turns an image and its :class:`~localstyle.masks.base.Detections` into an
:class:`ImagePlan`; :func:`stylize_plans` runs the style method once per style over the regions of a
whole batch of plans.
"""
import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import cv2
import numpy as np

from localstyle.compose import build_alpha, crop_boxes, quantize_alpha, resolve_classes, select_instances
from localstyle.masks.base import Detections
from localstyle.utils.image_io import resize_image, resize_longest

MIN_REGION_SIDE = 32  # VGG needs a few pixels left after its 4-5 poolings


@dataclass
class Region:
    """One crop to stylize: ``box`` (XYXY ints) of the image, its ``alpha`` crop, and the processed copies."""

    style: str
    box: Tuple[int, int, int, int]
    alpha: np.ndarray
    size: Tuple[int, int]  # (h, w) at which the style method sees it
    content: np.ndarray  # the crop resized to ``size``
    content_alpha: np.ndarray  # ``alpha`` resized to ``size``


@dataclass
class ImagePlan:
    """What to do with one image: the selected instances (``keep``), their styles and the regions."""

    detections: Detections
    keep: List[int]
    names: List[str]  # class name of every detection
    regions: List[Region]
    alphas: List[np.ndarray]  # one whole-image alpha per style group
    style_of: Dict[int, str] = field(default_factory=dict)  # detection index -> style path
    shape: Tuple[int, int] = (0, 0)  # (h, w) of the working image the plan was made on
    full_shape: Tuple[int, int] = (0, 0)  # (h, w) of the photo it is composited into

    @property
    def scaled(self):
        """Whether the plan was made on a smaller working copy of the photo (STYLIZE.MAX_SIZE)."""
        return self.shape != self.full_shape

    def to_full(self, box):
        """A working-image box ``(x0, y0, x1, y1)`` in the photo's pixels (grown to whole pixels)."""
        (h, w), (fh, fw) = self.shape, self.full_shape
        x0, y0, x1, y1 = box
        return (math.floor(x0 * fw / w), math.floor(y0 * fh / h), min(fw, math.ceil(x1 * fw / w)),
                min(fh, math.ceil(y1 * fh / h)))


def working_shape(height, width, max_size):
    """``(h, w)`` of the working copy of a ``height`` x ``width`` photo: its longest side at most ``max_size``
    (0: no cap), as :func:`localstyle.utils.image_io.resize_longest` makes it."""
    if not max_size or max(height, width) <= max_size:
        return height, width
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def plan_regions(image, alpha, style, size, margin):
    """The :class:`Region` s of ``image`` around ``alpha`` > 0 (plus ``margin``) for ``style``.

    Each crop is scaled as the whole image would be to a longest side of ``size`` (0: native).
    """
    h, w = image.shape[:2]
    scale = size / max(h, w) if size > 0 else 1.0
    regions = []
    for box in crop_boxes(alpha, margin):
        x0, y0, x1, y1 = box
        rsize = (max(MIN_REGION_SIDE, round((y1 - y0) * scale)), max(MIN_REGION_SIDE, round((x1 - x0) * scale)))
        a = alpha[y0:y1, x0:x1]
        regions.append(Region(style, box, a, rsize,
                              resize_image(image[y0:y1, x0:x1], *rsize, upscale=cv2.INTER_LINEAR),
                              resize_image(a, *rsize, interpolation=cv2.INTER_LINEAR)))
    return regions


class Planner:
    """Builds :class:`ImagePlan` s from ``cfg.MASKS`` / ``cfg.STYLE`` and a :class:`StyleBook`."""

    def __init__(self, cfg, styles, thing_classes):
        self.cfg, self.styles, self.thing_classes = cfg, styles, list(thing_classes)
        self.class_ids = resolve_classes(list(cfg.MASKS.CLASSES), self.thing_classes)
        for name in styles.per_class:
            resolve_classes([name], self.thing_classes, "STYLE.PER_CLASS")

    def groups(self, keep, names):
        """``{style path: [detection indices]}`` of the selected instances."""
        groups = {}
        if self.cfg.MASKS.INVERT:
            if self.styles.default:
                groups[self.styles.default] = list(keep)
        else:
            for k, i in enumerate(keep):
                groups.setdefault(self.styles.style_for(k, names[i]), []).append(i)
        return groups

    def __call__(self, image, det):
        """The :class:`ImagePlan` of RGB uint8 ``image`` with detections ``det``; a photo larger than
        STYLIZE.MAX_SIZE is planned on a working copy at that size (see :func:`working_shape`)."""
        full_shape = image.shape[:2]
        work = working_shape(*full_shape, self.cfg.STYLIZE.MAX_SIZE)
        plan = self.plan(resize_longest(image, max(work)), det.resized(*work), max(work) / max(full_shape))
        plan.full_shape = full_shape
        return plan

    def plan(self, image, det, pixel_scale=1.0):
        """The plan on ``image`` (the photo or its working copy, ``pixel_scale`` times its size): MASKS.DILATE,
        FEATHER and CROP_MARGIN are pixels of the photo."""
        cfg = self.cfg
        h, w = image.shape[:2]
        dilate, feather_width = round(cfg.MASKS.DILATE * pixel_scale), cfg.MASKS.FEATHER * pixel_scale
        margin = round(cfg.MASKS.CROP_MARGIN * pixel_scale)
        keep = select_instances(det, self.class_ids, cfg.MASKS.SCORE_THRESH, cfg.MASKS.TOP_K)
        names = [self.thing_classes[c] for c in det.classes]
        groups = self.groups(keep, names)
        regions, alphas = [], []
        for style_path, idx in groups.items():
            alpha = build_alpha(det.alpha_masks(idx), dilate, feather_width, cfg.MASKS.INVERT, (h, w))
            alpha = quantize_alpha(alpha * cfg.STYLE.STRENGTH)
            alphas.append(alpha)
            regions += plan_regions(image, alpha, style_path, cfg.STYLE.SIZE, margin)
        style_of = {i: s for s, idx in groups.items() for i in idx}
        return ImagePlan(det, keep, names, regions, alphas, style_of, (h, w), (h, w))


def stylize_plans(method, styles, plans):
    """Stylize the regions of ``plans`` (None entries are skipped), one ``method.stylize`` call per style.

    Returns ``(stylized, seconds)``: per plan, the stylized regions (in ``plan.regions`` order) and its
    share of the stylization time (by region pixels).
    """
    by_style = {}
    for i, plan in enumerate(plans):
        for j, region in enumerate(plan.regions if plan is not None else []):
            by_style.setdefault(region.style, []).append((i, j, region))
    stylized = [[None] * len(p.regions) if p is not None else [] for p in plans]
    seconds = [0.0] * len(plans)
    for style_path, jobs in by_style.items():
        t0 = time.perf_counter()
        outs = method.stylize([r.content for _, _, r in jobs], styles.image(style_path),
                              [r.content_alpha for _, _, r in jobs])
        elapsed = time.perf_counter() - t0
        pixels = sum(r.size[0] * r.size[1] for _, _, r in jobs)
        for (i, j, region), out in zip(jobs, outs):
            stylized[i][j] = out
            seconds[i] += elapsed * region.size[0] * region.size[1] / max(pixels, 1)
    return stylized, seconds
