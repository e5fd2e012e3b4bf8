"""A detector's confusion matrix with MMDetection's definition (``tools/analysis_tools/confusion_matrix.py``):
per image, every detection scoring at least ``score_thresh`` is matched to every ground-truth box it overlaps with
box IoU >= ``iou_thresh``. ``counts[gt class, detected class]`` counts each such pair; a detection matching no box
counts in the background row, a box that no detection *of its class* matches counts in the background column.
Unlike MMDetection, crowd regions (``iscrowd``) are no ground truth: a detection matching only a crowd is left out."""
import csv
import dataclasses
import os

import numpy as np
from pycocotools import mask as mask_util

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open

BACKGROUND = "background"


@dataclasses.dataclass
class ConfusionMatrix:
    """``counts`` is (classes + background) x (classes + background): rows ground truth, columns detections."""

    class_names: tuple
    counts: np.ndarray
    score_thresh: float = 0.3
    iou_thresh: float = 0.5

    @property
    def labels(self):
        return (*self.class_names, BACKGROUND)

    def normalized(self):
        """Each row divided by its sum (the share of a ground-truth class's outcomes); NaN for empty rows."""
        sums = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, sums, out=np.full(self.counts.shape, np.nan), where=sums > 0)

    def write_csv(self, path):
        """The counts as CSV: a header of detected labels, then one row per ground-truth label."""
        with atomic_open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["ground truth \\ detected", *self.labels])
            for label, row in zip(self.labels, self.counts):
                writer.writerow([label, *(int(v) for v in row)])


def _xywh(records):
    return np.asarray([r["bbox"] for r in records], dtype=np.float64).reshape(-1, 4)


def _add_image(counts, gts, dets, label_of, iou_thresh):
    """Add one image's pairs to ``counts``; ``gts`` are COCO annotations, ``dets`` the kept detections."""
    bg = counts.shape[0] - 1
    gt_labels = np.asarray([label_of[a["category_id"]] for a in gts], dtype=np.int64)
    det_labels = np.asarray([label_of[d["category_id"]] for d in dets], dtype=np.int64)
    crowd = np.asarray([bool(a.get("iscrowd", 0)) for a in gts], dtype=bool)
    if len(dets) and len(gts):
        # pycocotools' IoU: for a crowd region, the intersection over the detection's area (as COCOeval)
        match = np.asarray(mask_util.iou(_xywh(dets), _xywh(gts), crowd.astype(int).tolist())) >= iou_thresh
    else:
        match = np.zeros((len(dets), len(gts)), dtype=bool)
    det_idx, gt_idx = np.nonzero(match & ~crowd)
    np.add.at(counts, (gt_labels[gt_idx], det_labels[det_idx]), 1)
    unmatched = ~(match & ~crowd).any(axis=1) & ~(match & crowd).any(axis=1)
    np.add.at(counts, (bg, det_labels[unmatched]), 1)
    found = (match & (det_labels[:, None] == gt_labels[None, :])).any(axis=0)
    np.add.at(counts, (gt_labels[~found & ~crowd], bg), 1)


def compute_confusion_matrix(coco_gt, results, category_ids, class_names, score_thresh=0.3, iou_thresh=0.5):
    """The :class:`ConfusionMatrix` of COCO ``results`` (dicts with image_id, category_id, bbox, score) against
    ``coco_gt`` (a pycocotools COCO) over its images, for the dataset categories ``category_ids`` (class
    ``class_names[k]``); ground truth of other categories is left out."""
    label_of = {int(c): k for k, c in enumerate(category_ids)}
    images = set(coco_gt.getImgIds())
    by_image = {}
    for r in results:
        if r["image_id"] not in images:
            raise LocalstyleError(f"results: image id {r['image_id']} is not in the ground truth")
        if r["category_id"] not in label_of:
            raise LocalstyleError(f"results: category id {r['category_id']} is not one of the run's classes "
                                  f"{sorted(label_of)}")
        if r["score"] >= score_thresh:
            by_image.setdefault(r["image_id"], []).append(r)
    counts = np.zeros((len(label_of) + 1,) * 2, dtype=np.int64)
    for image_id in sorted(images):
        gts = [a for a in coco_gt.imgToAnns.get(image_id, []) if a["category_id"] in label_of]
        _add_image(counts, gts, by_image.get(image_id, []), label_of, iou_thresh)
    return ConfusionMatrix(tuple(class_names), counts, score_thresh, iou_thresh)


def confusion_matrix_of_results(cfg, results_file, dataset=None, score_thresh=0.3, iou_thresh=0.5):
    """The matrix of a ``coco_instances_results.json`` on the registered ``dataset`` (default: ``cfg``'s first
    DATASETS.TEST), over the run's classes (DATASETS.CLASSES, else all); returns ``(dataset name, matrix)``."""
    from localstyle.data import resolve_dataset
    from localstyle.data.classes import class_selection
    from localstyle.data.coco import load_coco_api
    from localstyle.evaluation.coco_evaluation import read_results_json

    name, _, meta = resolve_dataset(dataset, cfg)
    selection = class_selection(name, cfg.DATASETS.CLASSES)
    ids = selection.class_to_dataset_id() if selection is not None else None
    if not ids or not getattr(meta, "json_file", None):
        raise LocalstyleError(f"dataset {name}: a confusion matrix needs a COCO json with category ids")
    results = read_results_json(results_file)
    try:
        matrix = compute_confusion_matrix(load_coco_api(meta.json_file), results, list(ids.values()),
                                          selection.names, score_thresh, iou_thresh)
    except LocalstyleError as e:
        raise LocalstyleError(f"{results_file}: {str(e).removeprefix('results: ')} (dataset {name})") from None
    return name, matrix


def plot_confusion_matrix(matrix, ax, title=""):
    """Draw the row-normalized matrix (percent, with the counts) as a heatmap on ``ax``."""
    share = matrix.normalized()
    n = len(matrix.labels)
    edges = np.arange(n + 1) - 0.5  # vector cells (not a raster image): the SVG in the report stays plain
    image = ax.pcolormesh(edges, edges, np.nan_to_num(share * 100), cmap="Blues", vmin=0, vmax=100)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    for i in range(n):
        for j in range(n):
            text = "-" if np.isnan(share[i, j]) else f"{100 * share[i, j]:.0f}%\n({matrix.counts[i, j]})"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), matrix.labels, rotation=45, ha="right")
    ax.set_yticks(range(n), matrix.labels)
    ax.set_xlabel("detected")
    ax.set_ylabel("ground truth")
    ax.set_title(title or f"score >= {matrix.score_thresh:g}, IoU >= {matrix.iou_thresh:g}", fontsize=9)
    return image


def save_confusion_matrix(matrix, output_dir, title=""):
    """Write ``output_dir/confusion_matrix.csv`` (counts) and ``confusion_matrix.png`` (normalized heatmap);
    returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    csv_path, png_path = (os.path.join(output_dir, f"confusion_matrix.{ext}") for ext in ("csv", "png"))
    matrix.write_csv(csv_path)
    size = 2.5 + 0.7 * len(matrix.labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    fig.colorbar(plot_confusion_matrix(matrix, ax, title), ax=ax, label="% of the ground-truth row")
    fig.tight_layout()
    with atomic_open(png_path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return csv_path, png_path
