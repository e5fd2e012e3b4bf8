"""Compare two predictions of the same image (an exported or optimized runtime against the eager model)."""
from dataclasses import dataclass

import torch

# What an exported or optimized runtime must reproduce of the eager model (issue 12 / README).
TOLERANCES = {"box_px": 1e-3, "score": 1e-4, "mask_iou": 0.99}


@dataclass
class Parity:
    """Differences between two Instances; errors are 0 and IoU 1 when both are empty."""

    count: int
    same_detections: bool  # same count, matched one to one with the same classes
    box_err: float
    score_err: float
    min_mask_iou: float

    def within(self, box_px=TOLERANCES["box_px"], score=TOLERANCES["score"], mask_iou=TOLERANCES["mask_iou"]):
        return self.same_detections and self.box_err <= box_px and self.score_err <= score and \
            self.min_mask_iou >= mask_iou

    def __str__(self):
        return f"n={self.count} same={self.same_detections} box_err={self.box_err:.1e}px " \
               f"score_err={self.score_err:.1e} min_mask_iou={self.min_mask_iou:.5f}"


def _match(ours, ref):
    """Index into ``ours`` of each ``ref`` detection: the same class, nearest box (max abs corner distance).

    Near-equal scores may come out in another order from another runtime; matching by box keeps such a swap from
    reading as a large box error. Returns None when no one-to-one match exists.
    """
    dist = torch.cdist(ref.pred_boxes.tensor.float(), ours.pred_boxes.tensor.float(), p=float("inf"))
    dist[ref.pred_classes[:, None] != ours.pred_classes[None, :]] = float("inf")
    idx = dist.argmin(dim=1)
    if len(set(idx.tolist())) != len(idx) or not torch.isfinite(dist.min(dim=1)[0]).all():
        return None
    return idx


def compare_instances(ours, ref):
    """:class:`Parity` of Instances ``ours`` against ``ref`` (boxes, scores, classes, masks), matched by box."""
    ours, ref = ours.to("cpu"), ref.to("cpu")
    idx = _match(ours, ref) if len(ours) == len(ref) > 0 else None
    if idx is None:
        same = len(ours) == len(ref) == 0
        return Parity(len(ref), same, 0.0 if same else float("inf"), 0.0 if same else float("inf"),
                      1.0 if same else 0.0)
    ours = ours[idx]
    box_err = (ours.pred_boxes.tensor.float() - ref.pred_boxes.tensor.float()).abs().max().item()
    score_err = (ours.scores.float() - ref.scores.float()).abs().max().item()
    a, b = ours.pred_masks.flatten(1), ref.pred_masks.flatten(1)
    inter, union = (a & b).sum(1).double(), (a | b).sum(1).double()
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
    return Parity(len(ref), True, box_err, score_err, iou.min().item())
