"""Temporal smoothing of alphas and stylized pixels along the optical flow, one state per style.

* alpha: an exponential moving average of the alpha, the previous average carried by the flow
  (``momentum`` of the old value where the flow is reliable, none elsewhere);
* pixels: each stylized frame is blended with the previous stabilized stylized frame warped by the flow,
  with weight ``strength`` where the flow is reliable and both frames were stylized there (Ruder et al.'s
  short-term consistency, as a post-process suited to feed-forward methods).
"""
import cv2
import numpy as np

from localstyle.compose import quantize_alpha
from localstyle.video.flow import warp


class TemporalStabilizer:
    """Per-style state: ``smooth_alpha(key, alpha, flow)`` then ``steady_layer(key, layer, alpha, flow, box)``."""

    def __init__(self, alpha_momentum=0.5, flicker_strength=0.8):
        self.momentum, self.strength = float(alpha_momentum), float(flicker_strength)
        self.alphas, self.layers, self.seen = {}, {}, set()

    def smooth_alpha(self, key, alpha, flow):
        """The alpha to use for style ``key`` in this frame (quantized to the 1/255 grid)."""
        prev = self.alphas.get(key)
        if prev is not None and flow is not None and self.momentum > 0:
            m = self.momentum * flow.reliable.astype(np.float32)
            alpha = alpha * (1.0 - m) + warp(prev, flow.backward) * m
        alpha = quantize_alpha(alpha)
        self.alphas[key] = alpha
        self.seen.add(key)
        return alpha

    def steady_layer(self, key, layer, alpha, flow, box):
        """``layer``: the stylized part ``box`` = (x0, y0, x1, y1) of the frame, ``alpha`` the full-frame alpha.

        Returns ``layer`` blended with the previous stabilized layer along the flow where that is reliable and
        both frames were stylized, and keeps the result for the next frame.
        """
        x0, y0, x1, y1 = box
        a = alpha[y0:y1, x0:x1]
        prev = self.layers.get(key)
        if prev is not None and flow is not None and self.strength > 0:
            prev_layer, prev_alpha = prev
            w = flow.reliable[y0:y1, x0:x1] & (warp(prev_alpha, flow.backward, box) > 0) & (a > 0)
            w = (self.strength * w.astype(np.float32))[..., None]
            mixed = layer.astype(np.float32) * (1.0 - w) + warp(prev_layer, flow.backward, box, cv2.INTER_CUBIC).astype(np.float32) * w
            layer = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
        full = np.zeros(alpha.shape + (3,), np.uint8)
        full[y0:y1, x0:x1] = layer
        self.layers[key] = (full, alpha)
        self.seen.add(key)
        return layer

    def end_frame(self):
        """Forget styles that did not appear in the frame just finished."""
        for store in (self.alphas, self.layers):
            for key in [k for k in store if k not in self.seen]:
                del store[key]
        self.seen = set()

    def state(self):
        """(style keys, arrays) describing the state, for resuming a clip."""
        keys = sorted(set(self.alphas) | set(self.layers))
        arrays = {}
        for i, k in enumerate(keys):
            if k in self.alphas:
                arrays[f"alpha_{i}"] = self.alphas[k]
            if k in self.layers:
                arrays[f"layer_{i}"], arrays[f"layer_alpha_{i}"] = self.layers[k]
        return keys, arrays

    def load_state(self, keys, arrays):
        self.alphas = {k: arrays[f"alpha_{i}"] for i, k in enumerate(keys) if f"alpha_{i}" in arrays}
        self.layers = {k: (arrays[f"layer_{i}"], arrays[f"layer_alpha_{i}"])
                       for i, k in enumerate(keys) if f"layer_{i}" in arrays}
