"""Precision-recall curves kept from COCOeval: ``inference[/<dataset>]/pr_curves.npz`` (numpy arrays only, loaded
without pickle), so reports can plot them later without the predictions."""
import dataclasses
import os
import zipfile

import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open

PR_CURVES_FILE = "pr_curves.npz"


@dataclasses.dataclass
class PRCurves:
    """COCOeval precision at area "all" and 100 detections: ``precision[task]`` is (IoU thresholds x recall
    thresholds x categories), -1 where a category has no ground truth."""

    iou_thresholds: np.ndarray
    recall: np.ndarray
    category_ids: np.ndarray
    precision: dict
    category_names: np.ndarray = None  # the ground truth's category names (absent in files of older versions)

    @classmethod
    def from_cocoevals(cls, coco_evals):
        """From ``{task: COCOeval}`` after ``accumulate()``."""
        ev = next(iter(coco_evals.values()))
        names = [c["name"] for c in ev.cocoGt.loadCats(ev.params.catIds)]
        return cls(np.asarray(ev.params.iouThrs, np.float32), np.asarray(ev.params.recThrs, np.float32),
                   np.asarray(ev.params.catIds, np.int64),
                   {task: ev.eval["precision"][:, :, :, 0, -1].astype(np.float32) for task, ev in coco_evals.items()},
                   np.asarray(names, dtype=str))

    def _at(self, task, iou):
        """(recall thresholds x categories) precision at IoU ``iou`` and which categories have ground truth."""
        t = np.flatnonzero(np.isclose(self.iou_thresholds, iou))
        if not len(t):
            raise LocalstyleError(f"no precision saved at IoU {iou}; have {self.iou_thresholds.tolist()}")
        p = self.precision[task][t[0]]
        return p, (p > -1).any(axis=0)

    def curve(self, task, iou):
        """Precision at each recall threshold for IoU ``iou``, averaged over the categories with ground truth
        (``None`` when ``task`` was not evaluated or no category has ground truth)."""
        if task not in self.precision:
            return None
        p, valid = self._at(task, iou)
        return p[:, valid].mean(axis=1) if valid.any() else None

    def class_curves(self, task, iou):
        """``[(category name, precision at each recall threshold)]`` at IoU ``iou`` for each category with ground
        truth (``"category <id>"`` when the file has no names); ``[]`` when ``task`` was not evaluated."""
        if task not in self.precision:
            return []
        p, valid = self._at(task, iou)
        names = self.category_names if self.category_names is not None and len(self.category_names) == len(
            self.category_ids) else [f"category {i}" for i in self.category_ids]
        return [(str(names[k]), p[:, k]) for k in np.flatnonzero(valid)]

    def save(self, path):
        arrays = {"iou_thresholds": self.iou_thresholds, "recall": self.recall, "category_ids": self.category_ids}
        if self.category_names is not None:
            arrays["category_names"] = self.category_names
        arrays.update({f"precision_{task}": p for task, p in self.precision.items()})
        with atomic_open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path):
        """Read a ``pr_curves.npz``; a damaged or foreign file raises a one-line LocalstyleError."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            return cls(arrays.pop("iou_thresholds"), arrays.pop("recall"), arrays.pop("category_ids"),
                       {k[len("precision_"):]: v for k, v in arrays.items() if k.startswith("precision_")},
                       arrays.get("category_names"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise LocalstyleError(f"{os.fspath(path)}: not a readable pr_curves.npz ({e})") from None
