"""COCO evaluation: our AP equals pycocotools' COCOeval; ground truth scores AP 100; detectron2 results format."""
import contextlib
import copy
import io
import json
import math
import os

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from localstyle.evaluation import (
    COCOEvaluator,
    evaluate_coco_json,
    format_ap_table,
    instances_to_coco_json,
    save_evaluation,
)
from localstyle.structures import Boxes, Instances

DATA = os.path.join(os.path.dirname(__file__), "data", "coco_dev")
PERSON_JSON = os.path.join(DATA, "coco_tiny_train2017_person", "annotations", "person_train2017.json")
ALL_JSON = os.path.join(DATA, "coco_tiny_train2017", "annotations", "instances_train2017.json")
METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")


@pytest.fixture(scope="module")
def person_gt():
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(PERSON_JSON)


def _gt_as_results(coco, score=1.0):
    results = []
    for ann in coco.loadAnns(coco.getAnnIds(iscrowd=False)):
        rle = coco.annToRLE(ann)
        rle["counts"] = rle["counts"].decode("ascii")
        results.append({"image_id": ann["image_id"], "category_id": ann["category_id"], "bbox": ann["bbox"],
                        "score": score, "segmentation": rle})
    return results


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_ground_truth_as_predictions_scores_100(person_gt, iou_type):
    results = _gt_as_results(person_gt)
    assert len(results) > 50
    metrics = evaluate_coco_json(PERSON_JSON, results, iou_type, cat_ids=[1])
    assert metrics["AP"] == pytest.approx(100.0) and metrics["AP50"] == pytest.approx(100.0)
    assert metrics["AP75"] == pytest.approx(100.0)
    for k in ("APs", "APm", "APl"):
        assert math.isnan(metrics[k]) or metrics[k] == pytest.approx(100.0)


def _noisy_results(coco, seed=0):
    rng = np.random.default_rng(seed)
    results = _gt_as_results(coco)
    for r in results:
        x, y, w, h = r["bbox"]
        r["bbox"] = [x + rng.normal(0, 0.1 * w), y + rng.normal(0, 0.1 * h), w * rng.uniform(0.8, 1.2),
                     h * rng.uniform(0.8, 1.2)]
        r["score"] = float(rng.uniform(0.05, 1.0))
        if rng.uniform() < 0.3:  # shift some masks so segm AP is not trivial either
            m = mask_util.decode({"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode()})
            m = np.roll(m, int(rng.integers(3, 15)), axis=1)
            rle = mask_util.encode(np.asfortranarray(m))
            r["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    fps = [dict(copy.deepcopy(r), image_id=int(rng.choice(coco.getImgIds())), score=float(rng.uniform(0, 0.5)))
           for r in results[:20]]
    return [r for r in results if rng.uniform() < 0.85] + fps


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_matches_pycocotools_cocoeval(person_gt, iou_type, tmp_path):
    results = _noisy_results(person_gt)
    path = tmp_path / "coco_instances_results.json"
    path.write_text(json.dumps(results))
    ours = evaluate_coco_json(PERSON_JSON, str(path), iou_type)
    # pycocotools directly (detectron2 drops "bbox" for segm so the area split uses mask areas)
    dets = [{k: v for k, v in r.items() if not (iou_type == "segm" and k == "bbox")} for r in results]
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(person_gt, person_gt.loadRes(dets), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert 5 < ours["AP"] < 95
    for i, k in enumerate(METRICS):
        expected = ev.stats[i] * 100
        if ev.stats[i] < 0:
            assert math.isnan(ours[k])
        else:
            assert ours[k] == pytest.approx(expected, abs=1e-9), k


def test_empty_results_are_nan_not_a_crash(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("[]")
    metrics = evaluate_coco_json(PERSON_JSON, str(path), "segm")
    assert set(metrics) == set(METRICS) and all(math.isnan(v) for v in metrics.values())


def _instances_from_annotations(dataset_dict):
    """Ground truth of one dataset dict (contiguous classes) as model-style predictions."""
    from localstyle.data.annotations import annotations_to_boxes, segmentation_to_mask

    h, w = dataset_dict["height"], dataset_dict["width"]
    anns = [a for a in dataset_dict["annotations"] if not a.get("iscrowd", 0)]
    masks = [torch.from_numpy(segmentation_to_mask(a["segmentation"], h, w).astype(bool)) for a in anns]
    return Instances((h, w), pred_boxes=Boxes(torch.from_numpy(annotations_to_boxes(anns))),
                     scores=torch.ones(len(anns)),
                     pred_classes=torch.tensor([a["category_id"] for a in anns], dtype=torch.int64),
                     pred_masks=torch.stack(masks) if masks else torch.zeros(0, h, w, dtype=torch.bool))


def test_coco_evaluator_maps_categories_back_and_writes_detectron2_json(tmp_path):
    from localstyle.data import DatasetCatalog

    dicts = DatasetCatalog.get("coco_tiny_train2017")  # 80 classes: contiguous ids != COCO ids
    evaluator = COCOEvaluator("coco_tiny_train2017", output_dir=str(tmp_path))
    for d in dicts:
        evaluator.process([{"image_id": d["image_id"]}], [{"instances": _instances_from_annotations(d)}])
    results = evaluator.evaluate()
    assert results["bbox"]["AP"] == pytest.approx(100.0) and results["segm"]["AP"] == pytest.approx(100.0)
    written = json.loads((tmp_path / "coco_instances_results.json").read_text())
    with open(ALL_JSON) as f:
        gt_cats = {a["category_id"] for a in json.load(f)["annotations"]}
    assert {r["category_id"] for r in written} <= gt_cats and max(r["category_id"] for r in written) > 80
    r = written[0]
    assert set(r) == {"image_id", "category_id", "bbox", "score", "segmentation"}
    assert isinstance(r["segmentation"]["counts"], str) and len(r["bbox"]) == 4
    table = save_evaluation(results, str(tmp_path), extra={"iteration": 7})
    assert "| segm |" in table and (tmp_path / "ap_table.md").read_text().strip() == table
    assert json.loads((tmp_path / "results.json").read_text())["iteration"] == 7


def test_instances_to_coco_json_format():
    masks = torch.zeros(2, 6, 8, dtype=torch.bool)
    masks[0, 1:3, 2:5] = True
    masks[1, 4:6, 0:8] = True
    inst = Instances((6, 8), pred_boxes=Boxes([[2, 1, 5, 3], [0, 4, 8, 6]]), scores=torch.tensor([0.9, 0.4]),
                     pred_classes=torch.tensor([0, 1]), pred_masks=masks)
    out = instances_to_coco_json(inst, 42, {0: 1, 1: 18})
    assert [r["category_id"] for r in out] == [1, 18]
    assert out[0]["bbox"] == [2.0, 1.0, 3.0, 2.0] and out[1]["score"] == pytest.approx(0.4)
    decoded = mask_util.decode({"size": out[1]["segmentation"]["size"],
                                "counts": out[1]["segmentation"]["counts"].encode()})
    assert (decoded.astype(bool) == masks[1].numpy()).all()
    assert instances_to_coco_json(inst[torch.zeros(2, dtype=torch.bool)], 1) == []
    assert "| bbox | 50.00 |" in format_ap_table({"bbox": dict.fromkeys(METRICS, 50.0)})
