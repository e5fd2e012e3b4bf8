"""Where a detector goes wrong: AP of each image, and COCO's error breakdown (the precision-recall curves of
COCO's ``analyze()``: C75, C50, Loc, Sim, Oth, BG, FN)."""
import contextlib
import copy
import dataclasses
import io

import numpy as np
from pycocotools.coco import COCO

from localstyle.evaluation.coco_evaluation import run_cocoeval

AREAS = ("all", "small", "medium", "large")
# C75/C50: PR at IoU .75/.5. Loc: at IoU .1 (localization errors forgiven; duplicates still count). Sim / Oth:
# also forgiving confusion with a class of the same supercategory / any class. BG: also forgiving every remaining
# false positive (background and duplicate detections). FN: also finding every missed object (precision 1).
ERROR_TYPES = ("C75", "C50", "Loc", "Sim", "Oth", "BG", "FN")


def _image_precision(ev, index):
    """COCOeval precision (T x R x K x A x M) of the ``index``-th evaluated image alone. (``accumulate(params)``
    with a subset of images cannot do it: it indexes the per-image results by position in the subset.)"""
    pe = ev._paramsEval
    n_images, n_areas = len(pe.imgIds), len(pe.areaRng)
    n_cats = len(pe.catIds) if pe.useCats else 1
    sub = copy.copy(ev)
    sub.params, sub._paramsEval = copy.copy(ev.params), copy.copy(pe)
    sub.params.imgIds = sub._paramsEval.imgIds = [pe.imgIds[index]]
    sub.evalImgs = [ev.evalImgs[(k * n_areas + a) * n_images + index] for k in range(n_cats) for a in range(n_areas)]
    with contextlib.redirect_stdout(io.StringIO()):
        sub.accumulate()
    return sub.eval["precision"]


def per_image_ap(coco_gt, results, iou_type, cat_ids=None):
    """``{image_id: AP}`` (0-100, IoU .5:.95 as COCO's AP) over the ground truth's images; NaN for images
    without ground truth."""
    ev = run_cocoeval(coco_gt, results, iou_type, cat_ids)
    if ev is None:
        return {i: 0.0 if coco_gt.getAnnIds(imgIds=[i], iscrowd=False) else float("nan")
                for i in coco_gt.getImgIds()}
    aps = {}
    for index, image_id in enumerate(ev._paramsEval.imgIds):
        precision = _image_precision(ev, index)[:, :, :, 0, -1]
        aps[image_id] = float(100 * precision[precision > -1].mean()) if (precision > -1).any() else float("nan")
    return aps


@dataclasses.dataclass
class ErrorBreakdown:
    """``precision[type, recall, area]``: the cumulative PR curves of :data:`ERROR_TYPES`, averaged over the
    categories with ground truth in each area (:data:`AREAS`); ``has_ground_truth[area]``."""

    recall: np.ndarray
    precision: np.ndarray
    has_ground_truth: np.ndarray

    def ap(self):
        """``{area: {type: AP (0-1)}}``."""
        return {area: {t: float(self.precision[i, :, a].mean()) for i, t in enumerate(ERROR_TYPES)}
                for a, area in enumerate(AREAS)}


def _coco_with(coco_gt, annotations):
    api = COCO()
    api.dataset = dict(coco_gt.dataset, annotations=annotations)
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def _forgiving(coco_gt, results, iou_type, cat_id, confused):
    """PR (recall x area) of category ``cat_id`` at IoU .1 when matching a ground truth of a ``confused``
    category costs nothing (it becomes an ignored crowd region of ``cat_id``)."""
    anns = [dict(a, ignore=1, iscrowd=1, category_id=cat_id) if a["category_id"] in confused else a
            for a in coco_gt.dataset["annotations"]]
    dets = [r for r in results if r["category_id"] == cat_id]
    ev = run_cocoeval(_coco_with(coco_gt, anns), dets, iou_type, [cat_id], {"iouThrs": np.array([0.1]),
                                                                            "maxDets": [100]})
    return ev.eval["precision"][0, :, 0, :, 0] if ev is not None else None


def error_breakdown(coco_gt, results, iou_type, cat_ids=None):
    """COCO's error analysis of ``results`` (result dicts) against ``coco_gt``; ``None`` without results."""
    cat_ids = sorted(cat_ids or coco_gt.getCatIds())
    ev = run_cocoeval(coco_gt, results, iou_type, cat_ids, {"iouThrs": np.array([0.75, 0.5, 0.1]),
                                                            "maxDets": [100]})
    if ev is None:
        return None
    base = ev.eval["precision"][..., 0]  # (3, R, K, A)
    ps = np.zeros((len(ERROR_TYPES), *base.shape[1:]))
    ps[:3] = base
    cats = coco_gt.loadCats(cat_ids)
    for k, cat in enumerate(cats):
        same_super = {c["id"] for c in cats if c.get("supercategory") == cat.get("supercategory")} - {cat["id"]}
        others = set(cat_ids) - {cat["id"]}
        for row, confused in ((3, same_super), (4, others)):
            pr = _forgiving(coco_gt, results, iou_type, cat["id"], confused)
            ps[row, :, k] = pr if pr is not None else 0.0
    valid = (base[0] > -1).any(axis=0)  # (K, A): categories with ground truth in the area
    ps = np.clip(ps, 0, None)
    ps[5] = ps[4] > 0
    ps[6] = 1.0
    weights = valid[None, None].astype(np.float64)
    mean = (ps * weights).sum(axis=2) / np.maximum(weights.sum(axis=2), 1)  # 0 in areas without ground truth
    return ErrorBreakdown(np.asarray(ev.params.recThrs), mean, valid.any(axis=0))


def plot_error_breakdown(breakdown, title):
    """A matplotlib figure: the stacked PR areas of each error type, one panel per object size, shared axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ["#ffffff", "#f2f2f2", "#4f82bd", "#bf4f4c", "#5ce661", "#8063a3", "#ff9900"]
    fig, axes = plt.subplots(1, len(AREAS), figsize=(4 * len(AREAS), 3.8), sharex=True, sharey=True)
    aps = breakdown.ap()
    for a, (ax, area) in enumerate(zip(axes, AREAS)):
        ax.set_title(f"{title}: {area}")
        ax.set_xlabel("recall")
        if not breakdown.has_ground_truth[a]:
            ax.text(0.5, 0.5, f"no {area} objects", ha="center", va="center", color="gray")
            continue
        for i, name in reversed(list(enumerate(ERROR_TYPES))):  # widest first: each band shows what it adds
            ax.fill_between(breakdown.recall, 0, breakdown.precision[i, :, a], color=colors[i], edgecolor="k",
                            linewidth=0.4, label=f"[{aps[area][name]:.3f}] {name}")
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], fontsize=7, loc="lower left")
    axes[0].set_xlim(0, 1)
    axes[0].set_ylim(0, 1)
    axes[0].set_ylabel("precision")
    fig.tight_layout()
    return fig
