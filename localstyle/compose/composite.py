"""Crops around masks, strength blending, colour preservation; pixels where alpha is 0 stay exact."""
import cv2
import numpy as np


def crop_boxes(alpha, margin=0):
    """Disjoint crop boxes ``(x0, y0, x1, y1)`` covering every pixel with alpha > 0, plus ``margin``.

    Each connected region gets its box grown by ``margin``; boxes that then overlap are merged, so
    people far apart are processed as separate small crops rather than one large one.
    """
    h, w = alpha.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).astype(np.uint8), connectivity=8)
    boxes = [[max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin)]
             for x, y, bw, bh, _ in stats[1:n]]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(int(v) for v in b) for b in sorted(boxes, key=lambda b: (b[1], b[0]))]


def preserve_color(stylized, content):
    """Luminance-only transfer: the stylized image's Y with the content's chroma (YCrCb), uint8 RGB."""
    s = cv2.cvtColor(stylized, cv2.COLOR_RGB2YCrCb)
    c = cv2.cvtColor(content, cv2.COLOR_RGB2YCrCb)
    c[..., 0] = s[..., 0]
    return cv2.cvtColor(c, cv2.COLOR_YCrCb2RGB)


def blend(content, stylized, alpha):
    """``content * (1 - alpha) + stylized * alpha`` in uint8; pixels with alpha == 0 are content's, exactly."""
    a = alpha[..., None].astype(np.float32)
    mixed = np.round(content.astype(np.float32) * (1.0 - a) + stylized.astype(np.float32) * a)
    return np.where(a > 0, np.clip(mixed, 0, 255).astype(np.uint8), content)
