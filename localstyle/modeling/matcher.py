"""IoU matching and foreground/background sampling with detectron2's semantics."""
import torch


def pairwise_iou(boxes1, boxes2):
    """IoU matrix (N x M) of XYXY boxes; 0 where boxes do not overlap (also for empty boxes)."""
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    wh = (torch.min(boxes1[:, None, 2:], boxes2[:, 2:]) - torch.max(boxes1[:, None, :2], boxes2[:, :2])).clamp(min=0)
    inter = wh.prod(dim=2)
    return torch.where(inter > 0, inter / (area1[:, None] + area2 - inter), torch.zeros(1, dtype=inter.dtype,
                                                                                         device=inter.device))


class Matcher:
    """Assign each prediction (column) to its best ground truth (row) and label it by IoU interval.

    ``thresholds`` [t1, .., tk] split [-inf, inf) into k+1 intervals labelled by ``labels`` (1 fg, 0 bg, -1 ignore).
    ``allow_low_quality_matches`` also labels 1 every prediction that ties a ground truth's best IoU.
    """

    def __init__(self, thresholds, labels, allow_low_quality_matches=False):
        thresholds = list(thresholds)
        assert len(labels) == len(thresholds) + 1 and all(lb in (-1, 0, 1) for lb in labels)
        self.thresholds = [-float("inf")] + thresholds + [float("inf")]
        self.labels = list(labels)
        self.allow_low_quality_matches = allow_low_quality_matches

    def __call__(self, match_quality_matrix):
        """Return ``(matches, match_labels)``: index of the matched gt and label in {-1, 0, 1} per column."""
        if match_quality_matrix.numel() == 0:
            n = match_quality_matrix.size(1)
            return (match_quality_matrix.new_full((n,), 0, dtype=torch.int64),
                    match_quality_matrix.new_full((n,), self.labels[0], dtype=torch.int8))
        matched_vals, matches = match_quality_matrix.max(dim=0)
        match_labels = matches.new_full(matches.size(), 1, dtype=torch.int8)
        for label, low, high in zip(self.labels, self.thresholds[:-1], self.thresholds[1:]):
            match_labels[(matched_vals >= low) & (matched_vals < high)] = label
        if self.allow_low_quality_matches:
            highest, _ = match_quality_matrix.max(dim=1)
            _, pred_inds = torch.nonzero(match_quality_matrix == highest[:, None], as_tuple=True)
            match_labels[pred_inds] = 1
        return matches, match_labels


def subsample_labels(labels, num_samples, positive_fraction, bg_label):
    """Random indices of at most ``num_samples`` labels, a ``positive_fraction`` of them foreground.

    Foreground is ``labels`` not -1 and not ``bg_label``; returns ``(pos_idx, neg_idx)``.
    """
    positive = torch.nonzero((labels != -1) & (labels != bg_label), as_tuple=True)[0]
    negative = torch.nonzero(labels == bg_label, as_tuple=True)[0]
    num_pos = min(int(num_samples * positive_fraction), positive.numel())
    num_neg = min(num_samples - num_pos, negative.numel())
    perm1 = torch.randperm(positive.numel(), device=positive.device)[:num_pos]
    perm2 = torch.randperm(negative.numel(), device=negative.device)[:num_neg]
    return positive[perm1], negative[perm2]
