"""Instance tracking across frames: greedy mask-IoU matching (as detectron2's ``VideoVisualizer`` does for
its colours, here after moving the previous masks along the optical flow), with a decaying keep-alive for
people the mask source misses for a frame or two."""
import dataclasses

import numpy as np

from localstyle.video.flow import warp


@dataclasses.dataclass
class Track:
    """One tracked instance in the current frame; ``weight`` is 1 when detected, ``decay ** missed`` when not."""

    id: int
    cls: int
    score: float
    mask: np.ndarray
    missed: int = 0
    weight: float = 1.0
    area: float = 0.0  # moving average of the mask area, for a steady MASKS.TOP_K choice


def mask_overlaps(a, b):
    """IoU and overlap coefficient (intersection over the smaller mask) matrices, len(a) x len(b)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b))), np.zeros((len(a), len(b)))
    fa = a.reshape(len(a), -1).astype(np.float32)
    fb = b.reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    sa, sb = fa.sum(1)[:, None], fb.sum(1)[None]
    return inter / np.maximum(sa + sb - inter, 1.0), inter / np.maximum(np.minimum(sa, sb), 1.0)


class InstanceTracker:
    """``update(classes, scores, masks, flow)`` -> the frame's tracks, ids kept from frame to frame.

    Previous masks are moved along the flow before matching. Pairs of a detection and a track of the same
    class are taken greedily by decreasing IoU; a pair qualifies when the intersection covers at least
    ``overlap_thresh`` of the smaller mask (so a person half hidden by another keeps its track). A track without a detection lives on for
    ``keep_frames`` frames, its mask carried by the flow and its weight multiplied by ``decay`` each frame.
    """

    def __init__(self, overlap_thresh=0.5, keep_frames=2, decay=0.5, area_momentum=0.8):
        self.overlap_thresh, self.keep_frames, self.decay = overlap_thresh, keep_frames, decay
        self.area_momentum = area_momentum
        self.tracks, self.next_id = [], 0

    def update(self, classes, scores, masks, flow=None):
        prev = self.tracks
        if flow is not None:
            for t in prev:
                t.mask = warp(t.mask.astype(np.uint8), flow.backward) > 0
        iou, overlap = mask_overlaps(np.asarray(masks, bool),
                                     np.stack([t.mask for t in prev]) if prev else np.zeros((0,)))
        overlap *= np.asarray(classes, np.int64)[:, None] == np.array([t.cls for t in prev], np.int64)[None]
        matched, current = {}, []
        for flat in np.argsort(-(iou + (overlap >= self.overlap_thresh)), axis=None, kind="stable"):
            i, j = np.unravel_index(flat, iou.shape)
            if overlap[i, j] < self.overlap_thresh:
                break
            if i not in matched and j not in matched.values():
                matched[i] = j
        for i, (c, s, m) in enumerate(zip(classes, scores, masks)):
            area = float(np.count_nonzero(m))
            if i in matched:
                t = prev[matched[i]]
                t.score, t.mask, t.missed, t.weight = float(s), np.asarray(m, bool), 0, 1.0
                t.area = self.area_momentum * t.area + (1 - self.area_momentum) * area
            else:
                t = Track(self.next_id, int(c), float(s), np.asarray(m, bool), area=area)
                self.next_id += 1
            current.append(t)
        for j, t in enumerate(prev):
            if j not in matched.values() and t.missed < self.keep_frames:
                t.missed += 1
                t.weight = self.decay ** t.missed
                current.append(t)
        self.tracks = sorted(current, key=lambda t: t.id)
        return self.tracks

    def state(self):
        """JSON-able track descriptions and their masks (for resuming a clip)."""
        meta = [{k: getattr(t, k) for k in ("id", "cls", "score", "missed", "weight", "area")} for t in self.tracks]
        return {"tracks": meta, "next_id": self.next_id}, [t.mask for t in self.tracks]

    def load_state(self, meta, masks):
        self.next_id = int(meta["next_id"])
        self.tracks = [Track(mask=np.asarray(m, bool), **d) for d, m in zip(meta["tracks"], masks)]
