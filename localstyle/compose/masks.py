"""Alpha masks from instance masks (hard or soft): grow/shrink, Gaussian feathering, inversion, 8-bit quantization.

Alphas are float32 H x W in 0..1 on the 1/255 grid, so ``<stem>_mask.png`` stores them exactly.
"""
import math

import cv2
import numpy as np


def quantize_alpha(alpha):
    """Round to multiples of 1/255 (what an 8-bit mask PNG can hold)."""
    return (np.round(np.clip(alpha, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def refine_mask(mask, dilate=0):
    """Grow (``dilate`` > 0) or shrink (< 0) a mask by ``|dilate|`` pixels (elliptic kernel). A boolean mask stays
    boolean; a float (soft, 0..1) mask gets the grey-level max/min filter and stays float32."""
    soft = np.issubdtype(np.asarray(mask).dtype, np.floating)
    mask = np.asarray(mask, dtype=np.float32 if soft else np.uint8)
    if dilate != 0:
        r = abs(int(dilate))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        mask = (cv2.dilate if dilate > 0 else cv2.erode)(mask, kernel)
    return mask if soft else mask.astype(bool)


def feather(mask, width=0):
    """Soft alpha: a Gaussian (sigma = width / 2) of the boolean mask, exactly 0 beyond 1.5 x width."""
    alpha = np.asarray(mask, dtype=np.float32)
    if width <= 0:
        return alpha
    sigma = width / 2.0
    k = 2 * int(math.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(alpha, (k, k), sigma, borderType=cv2.BORDER_REPLICATE)


def invert(alpha):
    """Style the rest of the image instead: ``1 - alpha``."""
    return (1.0 - np.asarray(alpha, dtype=np.float32)).astype(np.float32)


def union_alpha(alphas, shape):
    """Alpha covering all of ``alphas`` (``1 - prod(1 - a)``), quantized; zeros of ``shape`` when there are none."""
    used = np.zeros(shape, np.float32)
    for a in alphas:
        used = 1.0 - (1.0 - used) * (1.0 - a)
    return quantize_alpha(used)


def build_alpha(masks, dilate=0, feather_width=0, inverted=False, shape=None):
    """Alpha of the union of ``masks`` (N x H x W bool, or float 0..1 soft masks such as class probabilities:
    their pixel-wise maximum): refined, feathered, optionally inverted, quantized."""
    masks = np.asarray(masks)
    if not len(masks):
        union = np.zeros(shape, dtype=bool)
    elif np.issubdtype(masks.dtype, np.floating):
        union = np.clip(masks.max(axis=0), 0.0, 1.0).astype(np.float32)
    else:
        union = masks.astype(bool).any(axis=0)
    alpha = feather(refine_mask(union, dilate), feather_width)
    return quantize_alpha(invert(alpha) if inverted else alpha)
