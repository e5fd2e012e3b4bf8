"""Optical flow between consecutive frames (OpenCV's DIS), warping, and where the flow can be trusted.

``backward[y, x]`` is the displacement from a pixel of frame t to where it was in frame t - 1, so
``warp(previous, backward)`` lines the previous frame (or anything drawn on it) up with frame t. The flow is
reliable where the forward and backward flows undo each other (Ruder et al. 2016's consistency check); its
confidence also falls where the previous frame, moved by the flow, does not match this one (occlusions,
flow errors): there the moved previous stylization would not line up with the content.
"""
import dataclasses
import functools

import cv2
import numpy as np


@dataclasses.dataclass
class FlowPair:
    """Backward flow (H x W x 2, frame t -> t - 1), the mask (H x W bool) of pixels where it is consistent and
    the confidence (H x W float32, 0..1): consistent and the moved previous frame matches this one."""

    backward: np.ndarray
    reliable: np.ndarray
    confidence: np.ndarray


@functools.lru_cache(maxsize=4)
def _grid(h, w):
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs, ys


def warp(image, backward, box=None, interpolation=cv2.INTER_LINEAR):
    """``image`` (of frame t - 1) resampled at ``x + backward(x)``: aligned with frame t (edges replicated).

    With ``box`` = (x0, y0, x1, y1), only that part of frame t is computed (an array of the box's size).
    """
    h, w = backward.shape[:2]
    xs, ys = _grid(h, w)
    x0, y0, x1, y1 = box or (0, 0, w, h)
    b = backward[y0:y1, x0:x1]
    return cv2.remap(image, xs[y0:y1, x0:x1] + b[..., 0], ys[y0:y1, x0:x1] + b[..., 1], interpolation,
                     borderMode=cv2.BORDER_REPLICATE)


def consistent(backward, forward):
    """Pixels whose backward flow is undone by the forward flow at the point it lands on (and stays inside)."""
    h, w = backward.shape[:2]
    fw = warp(forward, backward)
    bx, by, fx, fy = backward[..., 0], backward[..., 1], fw[..., 0], fw[..., 1]
    diff = (bx + fx) ** 2 + (by + fy) ** 2
    bound = 0.01 * (bx * bx + by * by + fx * fx + fy * fy) + 0.5
    xs, ys = _grid(h, w)
    x, y = xs + bx, ys + by
    return (diff <= bound) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


def photometric_confidence(prev_gray, gray, backward, tolerance):
    """1 where ``prev_gray`` moved by ``backward`` equals ``gray``, falling linearly to 0 at a difference of
    ``tolerance`` grey levels (both blurred a little first, so sub-pixel resampling does not count)."""
    moved = cv2.GaussianBlur(warp(prev_gray, backward), (3, 3), 0).astype(np.float32)
    diff = np.abs(moved - cv2.GaussianBlur(gray, (3, 3), 0).astype(np.float32))
    return np.clip(1.0 - diff / tolerance, 0.0, 1.0)


class FlowEstimator:
    """DIS optical flow on grayscale frames at ``scale`` of their size; ``pair(prev_rgb, rgb)`` -> :class:`FlowPair`.

    ``tolerance``: grey-level difference (0-255) between the moved previous frame and this one at which the
    confidence reaches 0.
    """

    def __init__(self, scale=0.5, preset=cv2.DISOPTICAL_FLOW_PRESET_FAST, tolerance=24.0):
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.scale, self.tolerance = float(scale), float(tolerance)

    def _gray(self, rgb):
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if self.scale == 1.0:
            return g
        h, w = g.shape
        return cv2.resize(g, (max(8, round(w * self.scale)), max(8, round(h * self.scale))),
                          interpolation=cv2.INTER_AREA)

    def pair(self, prev_rgb, rgb):
        g0, g1 = self._gray(prev_rgb), self._gray(rgb)
        backward = self.dis.calc(g1, g0, None)
        reliable = consistent(backward, self.dis.calc(g0, g1, None))
        confidence = reliable * photometric_confidence(g0, g1, backward, self.tolerance)
        h, w = rgb.shape[:2]
        if backward.shape[:2] != (h, w):
            sx, sy = w / backward.shape[1], h / backward.shape[0]
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([sx, sy])
            reliable = cv2.resize(reliable.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
            confidence = cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        return FlowPair(backward, reliable, confidence)
