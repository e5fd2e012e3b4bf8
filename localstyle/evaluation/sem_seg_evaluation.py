"""Semantic segmentation figures: detectron2's SemSegEvaluator (mIoU, fwIoU, mACC, pACC, per-class IoU/ACC,
0-100) plus per-class Boundary IoU (Cheng et al. 2021), for semantic models and for instance models whose
masks are merged per image."""
import itertools
import logging
import math

import cv2
import numpy as np

from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)

# Boundary width as a fraction of the image diagonal (the Boundary IoU paper's and detectron2's 0.02).
BOUNDARY_DILATION_RATIO = 0.02


def mask_boundary(mask, width):
    """Pixels of the H x W bool ``mask`` within ``width`` pixels (chessboard distance) of a pixel outside it;
    outside the image counts as outside the mask."""
    mask = np.asarray(mask, dtype=np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (mask > 0) & (eroded == 0)


def boundary_width(height, width):
    """Boundary width in pixels for an image: 2% of its diagonal, at least 1."""
    return max(1, int(round(BOUNDARY_DILATION_RATIO * math.hypot(height, width))))


class SemSegMetrics:
    """Accumulate ``add(pred, gt)`` over H x W label maps (``gt`` may hold ``ignore_value``); ``compute()``."""

    def __init__(self, class_names, ignore_value=255):
        self.class_names, self.ignore_value = list(class_names), ignore_value
        n = len(self.class_names)
        self.conf = np.zeros((n + 1, n + 1), dtype=np.int64)  # rows: prediction, columns: ground truth
        self.b_inter, self.b_union = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)

    def add(self, pred, gt):
        """Add one image: ``pred`` labels in [0, classes), ``gt`` labels or ``ignore_value``."""
        pred, gt = np.asarray(pred, dtype=np.int64), np.asarray(gt, dtype=np.int64).copy()
        if pred.shape != gt.shape:
            raise LocalstyleError(f"prediction is {pred.shape} but ground truth is {gt.shape}")
        n = len(self.class_names)
        valid = gt != self.ignore_value
        if ((gt < 0) | (gt >= n))[valid].any() or (pred < 0).any() or (pred >= n).any():
            raise LocalstyleError(f"labels must be in [0, {n}) or {self.ignore_value}")
        gt[~valid] = n
        self.conf += np.bincount((n + 1) * pred.ravel() + gt.ravel(), minlength=(n + 1) ** 2).reshape(n + 1, n + 1)
        width = boundary_width(*gt.shape)
        for c in range(n):
            b_gt = mask_boundary(gt == c, width) & valid
            b_pred = mask_boundary(pred == c, width) & valid
            self.b_inter[c] += int((b_gt & b_pred).sum())
            self.b_union[c] += int((b_gt | b_pred).sum())

    def merge(self, others):
        """Add the counts of other SemSegMetrics (e.g. gathered from other processes)."""
        for o in others:
            self.conf += o.conf
            self.b_inter += o.b_inter
            self.b_union += o.b_union

    def compute(self):
        """detectron2's figures (0-100; NaN for classes absent from both prediction and ground truth) and
        ``BoundaryIoU`` (mean) / ``BoundaryIoU-<class>``."""
        conf = self.conf[:-1, :-1].astype(float)
        tp, pos_gt, pos_pred = np.diag(conf), conf.sum(axis=0), conf.sum(axis=1)
        acc_valid = pos_gt > 0
        union = pos_gt + pos_pred - tp
        iou_valid = acc_valid & (union > 0)
        acc, iou, b_iou = (np.full(len(tp), np.nan) for _ in range(3))
        acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
        iou[iou_valid] = tp[iou_valid] / union[iou_valid]
        b_valid = self.b_union > 0
        b_iou[b_valid] = self.b_inter[b_valid] / self.b_union[b_valid]
        total = pos_gt.sum()
        res = {
            "mIoU": 100 * iou[iou_valid].mean() if iou_valid.any() else math.nan,
            "fwIoU": 100 * (iou[iou_valid] * pos_gt[iou_valid] / total).sum() if total else math.nan,
            "mACC": 100 * acc[acc_valid].mean() if acc_valid.any() else math.nan,
            "pACC": 100 * tp.sum() / total if total else math.nan,
            "BoundaryIoU": 100 * b_iou[b_valid].mean() if b_valid.any() else math.nan,
        }
        for i, name in enumerate(self.class_names):
            res[f"IoU-{name}"] = 100 * iou[i]
            res[f"ACC-{name}"] = 100 * acc[i]
            res[f"BoundaryIoU-{name}"] = 100 * b_iou[i]
        return {k: float(v) for k, v in res.items()}


def merge_instances(instances, height, width, labels, score_thresh):
    """H x W label map from instance predictions: masks of classes in ``labels`` with score >= ``score_thresh``
    painted in increasing score order (the most confident instance wins overlaps); 0 elsewhere."""
    out = np.zeros((height, width), dtype=np.int64)
    if len(instances) == 0:
        return out
    scores = instances.scores.detach().cpu().numpy()
    classes = instances.pred_classes.detach().cpu().tolist()
    masks = instances.pred_masks.detach().cpu().numpy()
    for k in np.argsort(scores, kind="stable"):
        if scores[k] >= score_thresh and classes[k] in labels:
            out[masks[k] > 0.5] = labels[classes[k]]
    return out


class SemSegEvaluator:
    """Compare per-image predictions (``sem_seg`` probabilities, or ``instances`` merged by
    :func:`merge_instances`) with class maps built from the dataset's own annotations at their original size.

    ``evaluate()`` returns ``{"sem_seg": figures}`` on the main process (``{}`` elsewhere).
    """

    def __init__(self, dataset_name, classes, ignore_value=255, instance_score_thresh=0.5, distributed=True,
                 dataset_dicts=None, model_classes=None):
        """``dataset_dicts``: the dataset's dicts when already loaded (else read from DatasetCatalog);
        ``model_classes``: names of an instance model's class ids (default: the dataset's ``thing_classes``)."""
        from localstyle.data.catalog import DatasetCatalog, MetadataCatalog
        from localstyle.data.sem_seg import category_labels

        self.dataset_name, self.distributed = dataset_name, distributed
        dicts = DatasetCatalog.get(dataset_name) if dataset_dicts is None else dataset_dicts
        self.annotations = {d["image_id"]: d.get("annotations", []) for d in dicts}
        thing_classes = list(MetadataCatalog.get(dataset_name).get("thing_classes") or [])
        self.labels = category_labels(thing_classes, list(classes), dataset_name)
        names = list(model_classes or thing_classes)
        self.model_labels = {names.index(c): k + 1 for k, c in enumerate(classes) if c in names}
        self.class_names = ["background", *classes]
        self.ignore_value, self.score_thresh = ignore_value, instance_score_thresh
        self.reset()

    def reset(self):
        self.metrics = SemSegMetrics(self.class_names, self.ignore_value)

    def process(self, inputs, outputs):
        from localstyle.data.sem_seg import annotations_to_sem_seg

        for inp, out in zip(inputs, outputs):
            h, w = inp["height"], inp["width"]
            gt = annotations_to_sem_seg(self.annotations[inp["image_id"]], h, w, self.labels, self.ignore_value)
            if "sem_seg" in out:
                pred = out["sem_seg"].argmax(dim=0).cpu().numpy()
            else:
                pred = merge_instances(out["instances"], h, w, self.model_labels, self.score_thresh)
            self.metrics.add(pred, gt)

    def evaluate(self):
        if self.distributed:
            gathered = comm.gather(self.metrics)
            if not comm.is_main_process():
                return {}
            self.reset()
            self.metrics.merge(gathered)
        res = self.metrics.compute()
        logger.info(f"Semantic segmentation on {self.dataset_name}: "
                    + ", ".join(f"{k} {v:.2f}" for k, v in itertools.islice(res.items(), 5))
                    + "; " + ", ".join(f"{k} {res[k]:.2f}" for k in res if k.endswith("-person")))
        return {"sem_seg": res}
