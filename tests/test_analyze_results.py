"""tools/analyze_results.py on the real person annotations of tests/data: predictions made from the ground truth
(exact, shifted, duplicated, missing) rank and break down as they must; and a real tiny model's results."""
import csv
import json
import math

import pytest
from PIL import Image

from engine_helpers import load_script
from localstyle.data import resolve_dataset
from localstyle.evaluation.analysis import ERROR_TYPES, per_image_ap
from localstyle.data.coco import load_coco_api
from localstyle.evaluation.coco_evaluation import evaluate_coco_json

analyze_results = load_script("tools", "analyze_results.py")
DATASET = "lizhogn_tiny_person"


@pytest.fixture(scope="module")
def made_up_results(tmp_path_factory):
    """Box results from the ground truth: images 0-3 exact (AP 100), 4-7 shifted by 60% of the box width
    (IoU ~0.25 with their own box: localization errors), 8-9 exact plus a far-off duplicate (scored lower: AP
    stays 100), the rest missed."""
    _, dicts, meta = resolve_dataset(DATASET)
    gt = load_coco_api(meta.json_file)
    images = [d["image_id"] for d in dicts]
    results = []
    for rank, image_id in enumerate(images[:10]):
        for ann in gt.loadAnns(gt.getAnnIds(imgIds=[image_id], iscrowd=False)):
            x, y, w, h = ann["bbox"]
            shift = 0.6 * w if 4 <= rank < 8 else 0.0
            results.append({"image_id": image_id, "category_id": 1, "bbox": [x + shift, y, w, h], "score": 0.9})
            if rank >= 8:
                results.append({"image_id": image_id, "category_id": 1, "bbox": [x + 2 * w, y, w, h], "score": 0.5})
    path = tmp_path_factory.mktemp("made_up") / "coco_instances_results.json"
    path.write_text(json.dumps(results))
    return path, images, gt


def test_per_image_ap_and_ranking(made_up_results, tmp_path):
    path, images, gt = made_up_results
    aps = per_image_ap(gt, json.loads(path.read_text()), "bbox", [1])
    assert [aps[i] for i in images[:4]] == pytest.approx([100.0] * 4)
    assert max(aps[i] for i in images[4:8]) < 5 and all(aps[i] == 0.0 for i in images[10:])  # shifted, missed
    assert all(0 < aps[i] <= 100 for i in images[8:10])
    analyze_results.main([str(path), "--output", str(tmp_path), "--dataset", DATASET, "--topk", "4",
                          "--show-score-thr", "0"])
    best = sorted(p.name for p in (tmp_path / "best").iterdir())
    stems = {f"{d:012d}" for d in images[:4] + images[8:10]}
    assert len(best) == 4 and {name[3:-4] for name in best} <= stems  # exact images (AP 100)
    worst = [p.name[3:-4] for p in (tmp_path / "worst").iterdir()]
    assert len(worst) == 4 and not set(worst) & stems
    rows = {int(r["image_id"]): r for r in csv.DictReader((tmp_path / "per_image_ap.csv").open())}
    assert len(rows) == len(images) and float(rows[images[0]]["bbox AP"]) == pytest.approx(100.0)
    picture = Image.open(tmp_path / "best" / best[0])
    width = gt.loadImgs(int(best[0][3:-4]))[0]["width"]
    assert picture.width == 2 * width + 4  # ground truth | predictions


def test_error_breakdown_matches_coco_metrics(made_up_results, tmp_path):
    path, _, gt = made_up_results
    analyze_results.main([str(path), "--output", str(tmp_path), "--dataset", DATASET, "--topk", "1"])
    aps = json.loads((tmp_path / "error_breakdown.json").read_text())["bbox"]["all"]
    assert list(aps) == list(ERROR_TYPES)
    metrics = evaluate_coco_json(gt, str(path), "bbox", cat_ids=[1])
    assert 100 * aps["C75"] == pytest.approx(metrics["AP75"], abs=1e-6)
    assert 100 * aps["C50"] == pytest.approx(metrics["AP50"], abs=1e-6)
    assert aps["Loc"] > aps["C50"] + 0.05  # the shifted boxes count at IoU 0.1
    assert aps["Sim"] == pytest.approx(aps["Loc"]) and aps["Oth"] == pytest.approx(aps["Loc"])  # one class
    assert aps["Oth"] < aps["BG"] < aps["FN"] == 1.0  # duplicates forgiven, then the missed images
    assert Image.open(tmp_path / "error_breakdown_bbox.png").size[0] > 800


def test_real_model_results_with_masks(person_run, tmp_path):
    analyze_results.main([str(person_run / "inference" / "coco_instances_results.json"), "--output",
                          str(tmp_path), "--dataset", DATASET, "--topk", "1"])
    summary = json.loads((tmp_path / "error_breakdown.json").read_text())
    assert set(summary) == {"bbox", "segm"} and summary["segm"]["all"]["FN"] == 1.0
    assert (tmp_path / "error_breakdown_segm.png").exists() and len(list((tmp_path / "worst").iterdir())) == 1
    rows = list(csv.DictReader((tmp_path / "per_image_ap.csv").open()))
    assert all(not math.isnan(float(r["segm AP"])) for r in rows)


def test_results_of_another_dataset_are_refused(made_up_results, tmp_path, capsys):
    path, _, _ = made_up_results
    with pytest.raises(SystemExit):
        analyze_results.main([str(path), "--output", str(tmp_path), "--dataset", "coco_tiny_person"])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not in dataset coco_tiny_person" in err
    (tmp_path / "bad.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(SystemExit):
        analyze_results.main([str(tmp_path / "bad.json"), "--output", str(tmp_path), "--dataset", DATASET])
    assert "not a COCO results file" in capsys.readouterr().err
