"""COCO-style evaluation: predictions -> detectron2's results JSON -> pycocotools COCOeval -> AP on a 0-100 scale."""
import contextlib
import datetime
import io
import itertools
import json
import logging
import math
import os
import time

import numpy as np
import pycocotools.mask as mask_util
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from localstyle.data.coco import load_coco_api
from localstyle.evaluation.pr_curves import PR_CURVES_FILE, PRCurves
from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_write_json

logger = logging.getLogger(__name__)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def instances_to_coco_json(instances, image_id, class_to_category=None):
    """detectron2-format result dicts for one image: ``image_id``, ``category_id`` (dataset id via
    ``class_to_category``, else the class index), ``bbox`` XYWH, ``score`` and, with masks, an RLE
    ``segmentation`` whose ``counts`` is a str."""
    num = len(instances)
    if num == 0:
        return []
    boxes = instances.pred_boxes.tensor.detach().cpu().numpy().astype(np.float64)
    boxes[:, 2:] -= boxes[:, :2]
    scores = instances.scores.detach().cpu().tolist()
    classes = instances.pred_classes.detach().cpu().tolist()
    rles = None
    if instances.has("pred_masks"):
        masks = instances.pred_masks.detach().cpu().numpy().astype(np.uint8)
        rles = [mask_util.encode(np.asfortranarray(m[:, :, None]))[0] for m in masks]
        for rle in rles:
            rle["counts"] = rle["counts"].decode("utf-8")
    results = []
    for k in range(num):
        category = class_to_category[classes[k]] if class_to_category else classes[k]
        result = {"image_id": image_id, "category_id": int(category), "bbox": boxes[k].tolist(), "score": scores[k]}
        if rles is not None:
            result["segmentation"] = rles[k]
        results.append(result)
    return results


def _nan_metrics():
    return {name: float("nan") for name in METRIC_NAMES}


def evaluate_coco_json(gt_json, results_json, iou_type, cat_ids=None):
    """AP, AP50, AP75, APs, APm, APl (0-100) of a results file (path or list of dicts) against a COCO
    ground-truth file (path or ``COCO``). Metrics COCOeval cannot compute (no predictions, no ground truth
    in an area range) are NaN. ``cat_ids`` restricts evaluation to those dataset category ids."""
    coco_gt = gt_json if isinstance(gt_json, COCO) else load_coco_api(gt_json)
    results = read_results_json(results_json) if isinstance(results_json, (str, os.PathLike)) else results_json
    return coco_metrics(run_cocoeval(coco_gt, results, iou_type, cat_ids, source=results_json))


def run_cocoeval(coco_gt, results, iou_type, cat_ids=None, params=None, source="results"):
    """pycocotools' ``COCOeval`` of the result dicts ``results`` after ``evaluate()`` and ``accumulate()``
    (``None`` without results). ``params`` (a dict) overrides ``COCOeval.params`` fields, e.g. ``iouThrs``."""
    if iou_type not in ("bbox", "segm"):
        raise LocalstyleError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    # Fresh dicts (loadRes adds keys to them). Like detectron2, segm results drop "bbox" so that pycocotools
    # takes the mask area for the small/medium/large split.
    results = [{k: v for k, v in r.items() if not (iou_type == "segm" and k == "bbox")}
               for r in results if cat_ids is None or r["category_id"] in cat_ids]
    if iou_type == "segm" and any("segmentation" not in r for r in results):
        raise LocalstyleError(f"{source!s:.200}: segm evaluation needs a 'segmentation' in every result")
    if not results:
        return None
    with contextlib.redirect_stdout(io.StringIO()) as out:
        coco_dt = coco_gt.loadRes(results)
        coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
        if cat_ids is not None:
            coco_eval.params.catIds = sorted(cat_ids)
        for key, value in (params or {}).items():
            setattr(coco_eval.params, key, value)
        coco_eval.evaluate()
        coco_eval.accumulate()
    logger.debug(f"COCOeval {iou_type}:\n{out.getvalue()}")
    return coco_eval


def coco_metrics(coco_eval):
    """AP, AP50, AP75, APs, APm, APl (0-100; NaN where undefined) of an accumulated ``COCOeval`` (or ``None``)."""
    if coco_eval is None:
        return _nan_metrics()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        coco_eval.summarize()
    logger.debug(f"COCOeval {coco_eval.params.iouType}:\n{out.getvalue()}")
    return {
        name: float(coco_eval.stats[i] * 100) if coco_eval.stats[i] >= 0 else float("nan")
        for i, name in enumerate(METRIC_NAMES)
    }


def read_results_json(path):
    """The result dicts of a ``coco_instances_results.json``; unreadable or not a list: one-line error."""
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise LocalstyleError(f"{path}: cannot read results JSON ({e})") from None
    if not isinstance(results, list) or not all(isinstance(r, dict) and "image_id" in r for r in results):
        raise LocalstyleError(f"{path}: not a COCO results file (a list of {{image_id, category_id, bbox, score}})")
    return results


class COCOEvaluator:
    """Collect predictions over a test loader and compute COCO bbox (and segm when masks are predicted) AP.

    ``evaluate()`` gathers predictions from all processes, writes ``output_dir/coco_instances_results.json`` and
    the precision-recall curves ``output_dir/pr_curves.npz`` on the main process and returns
    ``{"bbox": {...}, "segm": {...}}`` there (``{}`` on other ranks).
    ``classes`` (``DATASETS.CLASSES``) names the model's classes among the dataset's; results keep the
    dataset's category ids and only those categories are evaluated.
    """

    def __init__(self, dataset_name, output_dir=None, distributed=True, classes=()):
        from localstyle.data.catalog import MetadataCatalog
        from localstyle.data.classes import class_selection

        self.dataset_name = dataset_name
        self.output_dir = output_dir
        self.distributed = distributed
        meta = MetadataCatalog.get(dataset_name)
        self.json_file = getattr(meta, "json_file", None)
        if not self.json_file:
            raise LocalstyleError(f"dataset {dataset_name}: COCO evaluation needs metadata json_file")
        selection = class_selection(dataset_name, classes)
        self.class_to_category = selection.class_to_dataset_id() if selection is not None else None
        self.reset()

    def reset(self):
        self._predictions = []

    def process(self, inputs, outputs):
        """Convert one batch of model outputs (``{"instances": Instances}``) to result dicts."""
        for inp, out in zip(inputs, outputs):
            instances = out["instances"].to("cpu")
            self._predictions.append(
                {"image_id": inp["image_id"], "results": instances_to_coco_json(instances, inp["image_id"],
                                                                               self.class_to_category)}
            )

    def evaluate(self):
        predictions = self._predictions
        if self.distributed:
            predictions = list(itertools.chain(*comm.gather(predictions)))
            if not comm.is_main_process():
                return {}
        results = list(itertools.chain(*[p["results"] for p in predictions]))
        if self.output_dir:
            atomic_write_json(os.path.join(self.output_dir, "coco_instances_results.json"), results)
        coco_gt = load_coco_api(self.json_file)
        cat_ids = sorted(self.class_to_category.values()) if self.class_to_category else None
        tasks = ["bbox"] + (["segm"] if any("segmentation" in r for r in results) else [])
        evals = {task: run_cocoeval(coco_gt, results, task, cat_ids=cat_ids) for task in tasks}
        metrics = {task: coco_metrics(ev) for task, ev in evals.items()}
        evals = {task: ev for task, ev in evals.items() if ev is not None}
        if self.output_dir:
            pr_path = os.path.join(self.output_dir, PR_CURVES_FILE)
            if evals:
                PRCurves.from_cocoevals(evals).save(pr_path)
            elif os.path.exists(pr_path):  # an earlier evaluation's curves would not match these results
                os.remove(pr_path)
        logger.info(f"Evaluated {len(predictions)} images of {self.dataset_name}: "
                    + "; ".join(f"{t} AP {m['AP']:.2f}" for t, m in metrics.items()))
        return metrics


def inference_on_dataset(model, data_loader, evaluator, log_period_s=5.0):
    """Run ``model`` (a module in eval mode without grad, or a predictor runtime) over ``data_loader``, feed ``evaluator`` and return its results with
    ``results["timing"]``: ``inference_ms_per_image`` (model forward only, after 5 warm-up images, averaged over
    processes) and ``num_images``."""
    num_devices = comm.get_world_size()
    total = len(data_loader)
    num_warmup = min(5, total - 1)
    evaluator.reset()
    compute_time, timed_images, last_log = 0.0, 0, time.perf_counter()
    start = time.perf_counter()
    was_training = getattr(model, "training", False)  # a module, or a runtime from localstyle.export.runtimes
    if isinstance(model, torch.nn.Module):
        model.eval()
    with torch.no_grad():
        for idx, inputs in enumerate(data_loader):
            t0 = time.perf_counter()
            outputs = model(inputs)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            if idx >= num_warmup:
                compute_time += time.perf_counter() - t0
                timed_images += len(inputs)
            evaluator.process(inputs, outputs)
            now = time.perf_counter()
            if now - last_log > log_period_s and comm.is_main_process():
                eta = (now - start) / (idx + 1) * (total - idx - 1)
                logger.info(f"Inference done {idx + 1}/{total}. ETA={datetime.timedelta(seconds=int(eta))}")
                last_log = now
    if isinstance(model, torch.nn.Module):
        model.train(was_training)
    timings = comm.all_gather((compute_time, timed_images, total))
    ms = [t / n * 1000 for t, n, _ in timings if n > 0]
    results = evaluator.evaluate()
    if comm.is_main_process():
        results["timing"] = {
            "inference_ms_per_image": sum(ms) / len(ms) if ms else math.nan,
            "num_images": sum(n for _, _, n in timings),
            "num_devices": num_devices,
            "total_s": time.perf_counter() - start,
        }
    return results
