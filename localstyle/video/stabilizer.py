"""Temporal smoothing of alphas and stylized pixels along the optical flow, one state per style.

* alpha: an exponential moving average of the alpha, the previous average carried by the flow
  (``momentum`` of the old value, times the flow's confidence);
* pixels: each stylized frame is blended with the previous *stabilized* stylized frame warped by the flow
  (Ruder et al.'s short-term consistency, as a post-process suited to feed-forward methods), with weight
  ``strength`` times the flow's confidence (none at occlusions, where the flow fails the forward-backward
  check or where the moved previous frame does not match this one) where both frames were stylized.

A plain average of two stylizations whose brush strokes do not coincide is flatter than either (two
independent textures of equal contrast averaged 50/50 keep 71% of it, a running average keeps less and
less, and every sub-pixel move softens the carried strokes further): the video would lose its style frame
after frame. :func:`contrast_preserving_blend` therefore blends colours plainly but scales the blended
detail back to the local detail energy of the fresh stylization (as Heitz & Neyret 2018's
variance-preserving blending of textures): the strokes of the previous frame carry on and fade into the
new ones without washing out.
"""
import cv2
import numpy as np

from localstyle.compose import quantize_alpha
from localstyle.video.flow import warp


DETAIL_SIGMA = 2.0  # px: the Gaussian that splits a layer into base (colours, shading) and detail (strokes)
MAX_GAIN = 2.0  # guard where the blended detail nearly vanishes


def _detail(x, sigma=DETAIL_SIGMA):
    base = cv2.GaussianBlur(x, (0, 0), sigma)
    return base, x - base


def _energy(detail, sigma=DETAIL_SIGMA):
    """Local detail energy, one value per pixel for all channels (H x W x 1)."""
    return np.sqrt(cv2.GaussianBlur(np.einsum("hwc,hwc->hw", detail, detail), (0, 0), sigma))[..., None]


def contrast_preserving_blend(current, previous, weight):
    """``current * (1 - weight) + previous * weight`` (uint8 H x W x 3, weight H x W in 0..1) with the strokes
    as strong as in ``current``, uint8.

    Base and detail are blended separately; where the two details do not coincide (independent strokes, or
    the previous ones softened by the sub-pixel move) their blend is weaker than either, and it is scaled
    back up to ``current``'s local detail energy (never down, at most ``MAX_GAIN``): the output is as sharp
    as a fresh stylization and never sharper.
    """
    base_b, det_b = _detail(current.astype(np.float32))
    base_p, det_p = _detail(previous.astype(np.float32))
    w = weight.astype(np.float32)[..., None]
    det_m = det_b + w * (det_p - det_b)
    gain = np.clip(_energy(det_b) / np.maximum(_energy(det_m), 1e-3), 1.0, MAX_GAIN)
    out = base_b + w * (base_p - base_b) + det_m * gain
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


class TemporalStabilizer:
    """Per-style state: ``smooth_alpha(key, alpha, flow)`` for the styles of a frame, then ``keep_alphas``; later
    (maybe after planning the next frames) ``steady_layer(key, layer, alpha, flow, box)``, then ``keep_layers``."""

    def __init__(self, alpha_momentum=0.5, flicker_strength=0.8):
        self.momentum, self.strength = float(alpha_momentum), float(flicker_strength)
        self.alphas, self.layers = {}, {}

    def smooth_alpha(self, key, alpha, flow):
        """The alpha to use for style ``key`` in this frame (quantized to the 1/255 grid)."""
        prev = self.alphas.get(key)
        if prev is not None and flow is not None and self.momentum > 0:
            m = self.momentum * flow.confidence
            alpha = alpha * (1.0 - m) + warp(prev, flow.backward) * m
        alpha = quantize_alpha(alpha)
        self.alphas[key] = alpha
        return alpha

    def steady_layer(self, key, layer, alpha, flow, box):
        """``layer``: the stylized part ``box`` = (x0, y0, x1, y1) of the frame, ``alpha`` the full-frame alpha.

        Returns ``layer`` blended (:func:`contrast_preserving_blend`) with the previous stabilized layer moved
        by the flow, by the flow's confidence where both frames were stylized; keeps the result for the next frame.
        """
        x0, y0, x1, y1 = box
        a = alpha[y0:y1, x0:x1]
        prev = self.layers.get(key)
        if prev is not None and flow is not None and self.strength > 0:
            prev_layer, prev_alpha = prev
            both = (warp(prev_alpha, flow.backward, box) > 0) & (a > 0)
            w = self.strength * flow.confidence[y0:y1, x0:x1] * both
            layer = contrast_preserving_blend(layer, warp(prev_layer, flow.backward, box, cv2.INTER_CUBIC), w)
        full = np.zeros(alpha.shape + (3,), np.uint8)
        full[y0:y1, x0:x1] = layer
        self.layers[key] = (full, alpha)
        return layer

    def keep_alphas(self, keys):
        """Forget the alphas of styles not in ``keys`` (those of the frame just planned)."""
        self.alphas = {k: v for k, v in self.alphas.items() if k in keys}

    def keep_layers(self, keys):
        """Forget the layers of styles not in ``keys`` (those of the frame just finished)."""
        self.layers = {k: v for k, v in self.layers.items() if k in keys}

    def state(self, alphas=None):
        """(style keys, arrays) describing the state (with ``alphas`` instead of the current ones), for resuming."""
        alphas = self.alphas if alphas is None else alphas
        keys = sorted(set(alphas) | set(self.layers))
        arrays = {}
        for i, k in enumerate(keys):
            if k in alphas:
                arrays[f"alpha_{i}"] = alphas[k]
            if k in self.layers:
                arrays[f"layer_{i}"], arrays[f"layer_alpha_{i}"] = self.layers[k]
        return keys, arrays

    def load_state(self, keys, arrays):
        self.alphas = {k: arrays[f"alpha_{i}"] for i, k in enumerate(keys) if f"alpha_{i}" in arrays}
        self.layers = {k: (arrays[f"layer_{i}"], arrays[f"layer_alpha_{i}"])
                       for i, k in enumerate(keys) if f"layer_{i}" in arrays}
