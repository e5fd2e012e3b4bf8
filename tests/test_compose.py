"""localstyle.compose: selection, alpha masks, crops, blending, colour preservation, strips."""
import os

import cv2
import numpy as np
import pytest

from localstyle.compose import (blend, build_alpha, comparison_strip, crop_boxes, feather, invert, preserve_color,
                                quantize_alpha, refine_mask, resolve_classes, segmentation_overlay,
                                select_instances)
from localstyle.masks import Detections
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image

PHOTO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "photos",
                     "coco_train2017_000000360452.jpg")


def _disk(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _dets():
    h, w = 60, 80
    masks = np.stack([_disk(h, w, 20, 20, 8), _disk(h, w, 40, 60, 12), _disk(h, w, 30, 40, 3)])
    return Detections([0, 0, 1], [0.9, 0.4, 0.99], [[12, 12, 28, 28], [48, 28, 72, 52], [37, 27, 43, 33]], masks)


def test_select_by_class_score_and_top_k():
    d = _dets()
    assert select_instances(d, [0]) == [0, 1]
    assert select_instances(d, [0], score_thresh=0.5) == [0]
    assert select_instances(d, [0, 1], top_k=2) == [0, 1]  # the two largest masks, in instance order
    assert select_instances(d, [1], top_k=1) == [2]
    assert resolve_classes(["ball", "person"], ["person", "ball"]) == [1, 0]
    with pytest.raises(LocalstyleError, match="unknown class name.*'dog'"):
        resolve_classes(["dog"], ["person", "ball"])


def test_refine_dilate_erode():
    m = _disk(50, 50, 25, 25, 10)
    grown, shrunk = refine_mask(m, 3), refine_mask(m, -3)
    assert grown.sum() > m.sum() > shrunk.sum() > 0
    assert not (shrunk & ~m).any() and not (m & ~grown).any()
    assert (refine_mask(m, 0) == m).all()


def test_alpha_feathered_quantized_and_zero_far_away():
    m = _disk(64, 64, 32, 32, 10)
    alpha = build_alpha(m[None], dilate=0, feather_width=4)
    assert alpha.dtype == np.float32 and alpha.max() <= 1 and alpha.min() >= 0
    assert np.allclose(alpha * 255, np.round(alpha * 255), atol=1e-3)  # what the 8-bit mask PNG stores
    assert 0 < alpha[32, 32 + 10] < 1  # soft edge
    far = ~refine_mask(m, 7)  # sigma 2 -> kernel radius 6: exactly zero beyond it
    assert (alpha[far] == 0).all() and alpha[32, 32] == 1
    inv = build_alpha(m[None], feather_width=4, inverted=True)
    assert np.allclose(inv, quantize_alpha(invert(feather(m, 4))))
    assert (inv[far] == 1).all() and inv[32, 32] == 0
    assert (build_alpha(np.zeros((0, 8, 8), bool), shape=(8, 8)) == 0).all()


def test_crop_boxes_cover_alpha_and_merge_neighbours():
    alpha = np.zeros((100, 200), np.float32)
    alpha[10:20, 10:20] = 1
    alpha[10:20, 26:30] = 0.5  # close to the first: merged with a 5 px margin
    alpha[70:90, 150:190] = 1
    boxes = crop_boxes(alpha, margin=5)
    assert boxes == [(5, 5, 35, 25), (145, 65, 195, 95)]
    covered = np.zeros_like(alpha, bool)
    for x0, y0, x1, y1 in boxes:
        covered[y0:y1, x0:x1] = True
    assert covered[alpha > 0].all()
    assert crop_boxes(np.zeros((5, 5), np.float32)) == []


def test_blend_keeps_alpha_zero_pixels_exact():
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    stylized = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    alpha = quantize_alpha(feather(_disk(40, 50, 20, 25, 8), 4))
    out = blend(content, stylized, alpha)
    assert np.array_equal(out[alpha == 0], content[alpha == 0])
    assert np.array_equal(out[alpha == 1], stylized[alpha == 1])
    mid = (alpha > 0.3) & (alpha < 0.7)
    assert mid.any() and not np.array_equal(out[mid], content[mid])


def test_preserve_color_takes_luminance_only():
    photo = read_image(PHOTO)[:64, :64]
    gray = np.repeat(photo.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    out = preserve_color(255 - gray, photo)
    ycc_out, ycc_photo = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb), cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb)
    ycc_src = cv2.cvtColor(255 - gray, cv2.COLOR_RGB2YCrCb)
    assert np.abs(ycc_out[..., 0].astype(int) - ycc_src[..., 0]).mean() < 3  # luminance of the stylized image
    assert np.abs(ycc_out[..., 1:].astype(int) - ycc_photo[..., 1:]).mean() < 3  # chroma of the content


def test_strip_has_five_panels():
    photo = read_image(PHOTO)
    d = _dets()
    seg = segmentation_overlay(np.zeros((60, 80, 3), np.uint8), d.masks, d.boxes, ["a", "b", "c"])
    assert seg[20, 20].any() and not seg[5, 75].any()
    strip = comparison_strip(photo, [photo[:100, :100], photo[:50]], photo, photo, photo, height=64)
    assert strip.shape[0] == 64 + 20 and strip.dtype == np.uint8
    assert strip.shape[1] > 4 * photo.shape[1] * 64 / photo.shape[0]


def test_strip_default_height_shows_faces():
    """The default strip is at least 512 px high (at 256 px a face is a few pixels), captions included."""
    photo = np.zeros((480, 640, 3), np.uint8)
    strip = comparison_strip(photo, [photo], photo, photo, photo)
    assert strip.shape[0] >= 512 + 20
