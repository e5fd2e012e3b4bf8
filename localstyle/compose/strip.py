"""Comparison strips like the original study's figure: content | style | stylized crop | segmentation | outcome."""
import colorsys

import cv2
import numpy as np

from localstyle.utils.image_io import resize_image


def _colors(n):
    """``n`` distinct saturated RGB colours."""
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.85, 1.0)) for i in range(n)]


def segmentation_overlay(image, masks, boxes, labels, alpha=0.5):
    """``image`` with each mask tinted, its box drawn and its label ("person 0.98") written above it; a mask may
    be ``None`` (box-only instances)."""
    out = image.astype(np.float32).copy()
    colors = _colors(len(boxes))
    for m, color in zip(masks, colors):
        if m is not None:
            out[m] = out[m] * (1 - alpha) + np.asarray(color, np.float32) * alpha
    out = np.clip(out, 0, 255).astype(np.uint8)
    thick = max(1, round(max(image.shape[:2]) / 300))
    for (x0, y0, x1, y1), label, color in zip(boxes, labels, colors):
        p0, p1 = (int(x0), int(y0)), (int(x1), int(y1))
        cv2.rectangle(out, p0, p1, color, thick)
        cv2.putText(out, label, (p0[0] + 2, max(p0[1] - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick,
                    color, thick, cv2.LINE_AA)
    return out


def _fit_height(image, height):
    h, w = image.shape[:2]
    return resize_image(image, height, max(1, round(w * height / h)), interpolation=cv2.INTER_AREA)


def _style_panel(styles, height):
    """Several style images stacked into one panel of ``height`` (one style: just resized)."""
    if len(styles) == 1:
        return _fit_height(styles[0], height)
    cell = height // len(styles)
    rows = [_fit_height(s, cell) for s in styles]
    width = max(r.shape[1] for r in rows)
    panel = np.full((height, width, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        panel[i * cell:i * cell + cell, :r.shape[1]] = r
    return panel


def captioned_row(panels, captions, height=256, gap=4):
    """One RGB uint8 image: ``panels`` resized to ``height``, side by side, with a caption over each (the caption
    band and font grow with ``height``)."""
    panels = [_fit_height(p, height) for p in panels]
    top = max(20, round(height / 18))
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    strip = np.full((height + top, width, 3), 255, np.uint8)
    x = 0
    for panel, caption in zip(panels, captions):
        strip[top:, x:x + panel.shape[1]] = panel
        cv2.putText(strip, caption, (x + 4, round(top * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, top / 40, (0, 0, 0),
                    max(1, round(top / 30)), cv2.LINE_AA)
        x += panel.shape[1] + gap
    return strip


def comparison_strip(content, styles, stylized, segmentation, outcome, height=512, gap=4):
    """One RGB uint8 image: the five panels side by side at ``height`` (512: faces stay recognizable) with a caption
    over each; ``stylized`` is the stylized crops before masking (see ``localstyle.stylize.outputs.composite``)."""
    return captioned_row([content, _style_panel(styles, height), stylized, segmentation, outcome],
                         ["content", "style", "stylized crop (unmasked)", "segmentation", "outcome"],
                         height, gap)
