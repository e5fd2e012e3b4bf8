"""Temporal stability measured against a :class:`~localstyle.video.synthetic.SyntheticClip`'s true motion.

* warping error: mean absolute difference (0-255, over RGB) between output frame t and output frame t - 1
  moved by the ground-truth motion, over pixels of each person visible in both frames;
* mask IoU jitter: mean change, from one frame to the next, of the IoU between the alpha used (> 0.5)
  and the true union of the people's masks; plus that IoU's mean (steadiness must not cost accuracy);
* texture: mean |Laplacian| of the grey output inside the true masks over the second half of the clip (the
  style's high-frequency strokes; a stabilizer that blurs them away lowers it).
"""
import dataclasses

import cv2
import numpy as np


def shift(a, dx, dy, fill=0):
    """``out[y, x] = a[y - dy, x - dx]`` for whole-pixel ``dx, dy``; uncovered pixels get ``fill``."""
    out = np.full_like(a, fill)
    h, w = a.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = a[max(-dy, 0):h - max(dy, 0),
                                                                   max(-dx, 0):w - max(dx, 0)]
    return out


@dataclasses.dataclass
class StabilityReport:
    warp_error: float
    mask_iou_jitter: float
    mask_iou: float
    texture: float


def texture_energy(rgb, mask):
    """Mean |Laplacian| (3 x 3) of the grey image ``rgb`` over ``mask`` (0 for an empty mask)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    return float(lap[mask].mean()) if mask.any() else 0.0


class StabilityMeter:
    """Feed ``add(output_rgb, alpha)`` for frames 0, 1, ... of ``clip``; ``report()`` sums it up."""

    def __init__(self, clip):
        self.clip, self.t = clip, 0
        self.prev = None
        self.err_sum, self.err_count, self.ious, self.textures = 0.0, 0, [], []

    def add(self, output, alpha):
        _, masks = self.clip.frame(self.t)
        truth = masks.any(0)
        used = np.asarray(alpha) > 0.5
        self.ious.append((used & truth).sum() / max((used | truth).sum(), 1))
        if self.t >= self.clip.num_frames // 2:
            self.textures.append(texture_energy(output, truth))
        out = output.astype(np.float32)
        if self.prev is not None:
            prev_out, prev_masks = self.prev
            for i in range(len(masks)):
                dx, dy = self.clip.motion(i)
                valid = masks[i] & shift(prev_masks[i], dx, dy, False)
                if valid.any():
                    diff = np.abs(out - shift(prev_out, dx, dy))[valid]
                    self.err_sum += float(diff.sum())
                    self.err_count += diff.size
        self.prev = (out, masks)
        self.t += 1

    def report(self):
        ious = np.asarray(self.ious)
        jitter = float(np.abs(np.diff(ious)).mean()) if len(ious) > 1 else 0.0
        texture = float(np.mean(self.textures)) if self.textures else 0.0
        return StabilityReport(self.err_sum / max(self.err_count, 1), jitter, float(ious.mean()), texture)
