"""tools/confusion_matrix.py on a hand-made COCO ground truth and results file with known counts, and the AP
report's per-class precision-recall curves and confusion matrix for a run evaluated on it."""
import csv
import json
import os

import numpy as np
import pytest

from engine_helpers import load_script
from localstyle.config import get_cfg
from localstyle.data.coco import load_coco_api
from localstyle.evaluation.coco_evaluation import coco_metrics, run_cocoeval
from localstyle.evaluation.confusion_matrix import compute_confusion_matrix
from localstyle.evaluation.pr_curves import PRCurves
from localstyle.utils.file_io import atomic_write_json

confusion_matrix = load_script("tools", "confusion_matrix.py")
ap_report = load_script("tools", "ap_report.py")

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "dog"}, {"id": 5, "name": "cat"}]
# (image id, category id, xywh box, iscrowd)
GROUND_TRUTH = [(1, 1, [0, 0, 10, 10], 0), (1, 3, [20, 20, 10, 10], 0),   # person A, dog B
                (2, 5, [0, 0, 20, 20], 0),                                # cat C
                (3, 1, [0, 0, 50, 50], 1), (3, 1, [60, 60, 10, 10], 0)]   # a crowd of persons, person D
# (image id, category id, xywh box, score)
DETECTIONS = [(1, 1, [0, 0, 10, 10], 0.9),    # person on A: (person, person)
              (1, 3, [20, 20, 10, 10], 0.2),  # dog on B below 0.3: B is missed, (dog, background)
              (1, 5, [50, 50, 10, 10], 0.8),  # cat on nothing: (background, cat)
              (2, 3, [0, 0, 20, 20], 0.7),    # dog on cat C: (cat, dog), and C is missed: (cat, background)
              (2, 5, [10, 10, 20, 20], 0.6),  # cat beside C, IoU 0.14: (background, cat)
              (3, 1, [5, 5, 10, 10], 0.9),    # person inside the crowd: left out
              (3, 1, [60, 60, 10, 10], 0.95), (3, 1, [61, 60, 10, 10], 0.85)]  # D twice: (person, person) twice
#            person dog cat background     (rows: ground truth)
EXPECTED = [[3, 0, 0, 0],
            [0, 0, 0, 1],
            [0, 1, 0, 1],
            [0, 0, 2, 0]]


def _write_gt(path):
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in (1, 2, 3, 4)]
    annotations = [{"id": k, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": crowd,
                    "segmentation": [[b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]]}
                   for k, (i, c, b, crowd) in enumerate(GROUND_TRUTH, 1)]
    atomic_write_json(path, {"images": images, "annotations": annotations, "categories": CATEGORIES})


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    """The ground truth registered as ``cm_handmade`` by a config file, and the detections."""
    root = tmp_path_factory.mktemp("handmade")
    _write_gt(root / "gt.json")
    results = [{"image_id": i, "category_id": c, "bbox": b, "score": s} for i, c, b, s in DETECTIONS]
    atomic_write_json(root / "coco_instances_results.json", results)
    cfg = get_cfg()
    cfg.DATASETS.REGISTER_COCO = [["cm_handmade", str(root / "gt.json"), str(root)]]
    cfg.DATASETS.TEST = ("cm_handmade",)
    (root / "config.yaml").write_text(cfg.dump())
    return root


def test_counts_follow_mmdetections_definition(handmade, tmp_path, capsys):
    confusion_matrix.main(["--config-file", str(handmade / "config.yaml"), "--results",
                           str(handmade / "coco_instances_results.json"), "--output", str(tmp_path)])
    rows = list(csv.reader((tmp_path / "confusion_matrix.csv").open(encoding="utf-8")))
    assert rows[0] == ["ground truth \\ detected", "person", "dog", "cat", "background"]
    assert [r[0] for r in rows[1:]] == ["person", "dog", "cat", "background"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == EXPECTED
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "wrote" in out and "confusion_matrix.png" in out


def test_thresholds_and_class_selection(handmade, tmp_path):
    gt = load_coco_api(str(handmade / "gt.json"))
    results = json.loads((handmade / "coco_instances_results.json").read_text())
    low = compute_confusion_matrix(gt, results, [1, 3, 5], ["person", "dog", "cat"], score_thresh=0.1)
    assert low.counts[1].tolist() == [0, 1, 0, 0]  # the 0.2 dog now finds B
    loose = compute_confusion_matrix(gt, results, [1, 3, 5], ["person", "dog", "cat"], iou_thresh=0.1)
    assert loose.counts[2].tolist() == [0, 1, 1, 0] and loose.counts[3].tolist() == [0, 0, 1, 0]
    share = loose.normalized()
    np.testing.assert_allclose(share[2], [0, 0.5, 0.5, 0])
    # DATASETS.CLASSES as a trailing override: the run's classes in its order; person ground truth is left out
    subset = tmp_path / "cats_and_dogs.json"
    subset.write_text(json.dumps([r for r in results if r["category_id"] != 1]))
    confusion_matrix.main(["--config-file", str(handmade / "config.yaml"), "--results", str(subset), "--output",
                           str(tmp_path), "DATASETS.CLASSES", "['cat', 'dog']"])
    rows = list(csv.reader((tmp_path / "confusion_matrix.csv").open(encoding="utf-8")))
    assert rows[0][1:] == ["cat", "dog", "background"]
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == [[0, 1, 1], [0, 0, 1], [2, 0, 0]]


def test_bad_results_are_one_line_errors(handmade, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.9}]))
    with pytest.raises(SystemExit):
        confusion_matrix.main(["--config-file", str(handmade / "config.yaml"), "--results", str(bad), "--output",
                               str(tmp_path)])
    assert "bad.json: image id 99 is not in the ground truth (dataset cm_handmade)" in capsys.readouterr().err
    bad.write_text(json.dumps([{"image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1], "score": 0.9}]))
    with pytest.raises(SystemExit):
        confusion_matrix.main(["--config-file", str(handmade / "config.yaml"), "--results", str(bad), "--output",
                               str(tmp_path)])
    assert "category id 7 is not one of the run's classes [1, 3, 5]" in capsys.readouterr().err


@pytest.fixture(scope="module")
def handmade_run(handmade, tmp_path_factory):
    """An --eval-only-like OUTPUT_DIR evaluated on the hand-made set: config.yaml, inference/ with the detections,
    results.json and the PR curves COCOeval computes from them."""
    run = tmp_path_factory.mktemp("handmade_run")
    (run / "config.yaml").write_text((handmade / "config.yaml").read_text())
    inference = run / "inference"
    os.makedirs(inference)
    results = json.loads((handmade / "coco_instances_results.json").read_text())
    (inference / "coco_instances_results.json").write_text(json.dumps(results))
    ev = run_cocoeval(load_coco_api(str(handmade / "gt.json")), results, "bbox")
    PRCurves.from_cocoevals({"bbox": ev}).save(inference / "pr_curves.npz")
    atomic_write_json(inference / "results.json", {"dataset": "cm_handmade", "bbox": coco_metrics(ev)})
    return run


def test_report_shows_per_class_curves_and_the_matrix(handmade_run, tmp_path):
    ap_report.main([str(handmade_run), "--output", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Precision-recall curves per class</h2>" in page and "<h2>Confusion matrices</h2>" in page
    curves = PRCurves.load(handmade_run / "inference" / "pr_curves.npz")
    assert curves.category_names.tolist() == ["person", "dog", "cat"]
    for name, precision in curves.class_curves("bbox", 0.5):  # legend entries: each class's own AP at IoU 0.5
        assert f"<!-- {name}: AP {100 * precision.mean():.1f} -->" in page
    assert f"<!-- {handmade_run.name}, box, IoU 0.75 -->" in page
    # the heatmap's cells: percent of the row and the count
    for text in ("100%", "(3)", "50%", "(2)"):
        assert f"<!-- {text} -->" in page
    assert page.count('<figure class="plot"><svg') == 3  # PR curves, per class, confusion (no training metrics)
