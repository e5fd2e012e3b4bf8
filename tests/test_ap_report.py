"""tools/ap_report.py on real runs (a tiny training run and an --eval-only run on tests/data): the table's
numbers are the runs' own, config differences, semantic metrics, saved PR curves, and the HTML page in a
headless browser."""
import csv
import json
import math
import re
import shutil

import numpy as np
import pytest

from engine_helpers import load_script, person_run_opts, run_train_net
from localstyle.data import resolve_dataset
from localstyle.engine.hooks import read_metrics
from localstyle.data.coco import load_coco_api
from localstyle.evaluation.coco_evaluation import run_cocoeval
from localstyle.evaluation.pr_curves import PRCurves
from localstyle.utils.errors import LocalstyleError

ap_report = load_script("tools", "ap_report.py")
check_report_in_browser = load_script("tools", "check_report_in_browser.py")


@pytest.fixture(scope="module")
def eval_only_run(person_run, tmp_path_factory):
    """The person run's final weights evaluated at a larger test size (no training metrics; the config's own
    schedule is not the one that trained the weights)."""
    out = tmp_path_factory.mktemp("eval_only")
    run_train_net("--eval-only", *person_run_opts(), "OUTPUT_DIR", str(out), "MODEL.WEIGHTS",
                  str(person_run / "model_final.pth"), "INPUT.MIN_SIZE_TEST", "112", "SOLVER.MAX_ITER", "999")
    return out


@pytest.fixture(scope="module")
def report(person_run, eval_only_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    ap_report.main([str(person_run), str(eval_only_run), "--output", str(out)])
    return out


def _number(text):
    return float(text) if text not in ("", "nan") else (math.nan if text == "nan" else None)


def test_table_holds_each_runs_numbers(report, person_run, eval_only_run):
    rows = list(csv.DictReader((report / "report.csv").open(encoding="utf-8")))
    assert [r["run"] for r in rows] == [person_run.name, eval_only_run.name]
    for row, run in zip(rows, (person_run, eval_only_run)):
        results = json.loads((run / "inference" / "results.json").read_text())
        assert row["dataset"] == "lizhogn_tiny_person" and row["config"] == "mask_rcnn_R_50_FPN_unittest"
        for task, label in (("bbox", "box"), ("segm", "mask")):
            for metric, value in results[task].items():
                assert _number(row[f"{label} {metric}"]) == pytest.approx(value, nan_ok=True)
        assert float(row["inference ms/image"]) == pytest.approx(results["timing"]["inference_ms_per_image"])
    train = [r for r in read_metrics(person_run / "metrics.json") if "total_loss" in r]
    assert rows[0]["iterations"] == "4" and float(rows[0]["train s/iter"]) == pytest.approx(
        np.mean([r["time"] for r in train]))
    assert rows[1]["iterations"] == "" and rows[1]["train s/iter"] == ""  # evaluated only
    assert rows[0]["schedule"] == rows[1]["schedule"] == "4 it"  # the schedule that trained the weights
    # the config difference: the test size (OUTPUT_DIR is left out)
    assert (rows[0]["config:INPUT.MIN_SIZE_TEST"], rows[1]["config:INPUT.MIN_SIZE_TEST"]) == ("96", "112")
    assert not any(k.startswith("config:OUTPUT_DIR") for k in rows[0])
    md = (report / "report.md").read_text()
    assert "| INPUT.MIN_SIZE_TEST | 96 | 112 |" in md and f"| {person_run.name} |" in md


def test_html_is_self_contained_with_four_plots(report, person_run, eval_only_run):
    page = (report / "report.html").read_text()
    # AP vs iteration, losses, PR curves, confusion matrices (one class: no per-class PR curves)
    assert page.count('<figure class="plot"><svg') == 4 and "Precision-recall curves per class" not in page
    # matplotlib keeps each text as a comment next to its glyphs: titles and both runs' legend entries
    for title in ("box AP", "mask AP", "total_loss", "loss_mask", "box, IoU 0.5", "mask, IoU 0.75"):
        assert f"<!-- {title} -->" in page
    assert f"<!-- {person_run.name} -->" in page  # AP vs iteration and losses: the trained run only
    for run in (person_run, eval_only_run):
        assert page.count(f"<!-- {run.name}: AP ") == 4  # PR curves: box and mask at IoU 0.5 and 0.75
        assert f"<!-- {run.name} -->" in page and "<!-- score &gt;= 0.3, IoU &gt;= 0.5 -->" in page  # its matrix
    for needle in ("<script", "src=", "@import", "<link"):
        assert needle not in page
    # the SVGs' only references are to their own clip paths and glyphs
    assert set(re.findall(r"url\((.)", page)) <= {"#"} and set(re.findall(r"href=\"(.)", page)) <= {"#"}
    # summary, semantic figures per class (Mask R-CNN masks merged per image), config differences
    assert page.count("<table") == 3


def test_saved_pr_curves_match_cocoeval(person_run):
    curves = PRCurves.load(person_run / "inference" / "pr_curves.npz")
    results = json.loads((person_run / "inference" / "results.json").read_text())
    assert set(curves.precision) == {"bbox", "segm"} and curves.precision["bbox"].shape == (10, 101, 1)
    for task in ("bbox", "segm"):
        for iou, metric in ((0.5, "AP50"), (0.75, "AP75")):
            assert 100 * curves.curve(task, iou).mean() == pytest.approx(results[task][metric], abs=1e-4)
    # and they are what COCOeval computes from the saved predictions
    detections = json.loads((person_run / "inference" / "coco_instances_results.json").read_text())
    gt = load_coco_api(resolve_dataset("lizhogn_tiny_person")[2].json_file)
    again = run_cocoeval(gt, detections, "segm", cat_ids=[1])
    np.testing.assert_allclose(curves.precision["segm"], again.eval["precision"][:, :, :, 0, -1], atol=1e-6)


def test_semantic_metrics_are_shown_when_present(person_run, tmp_path):
    run = tmp_path / "semantic"
    shutil.copytree(person_run, run, ignore=shutil.ignore_patterns("*.pth"))
    results_path = run / "inference" / "results.json"
    results = json.loads(results_path.read_text())
    sem = {"mIoU": 61.5, "fwIoU": 80.25, "mACC": 70.0, "pACC": 88.5, "IoU-person": 41.0, "IoU-background": 82.0,
           "BoundaryIoU-person": 23.5}
    results_path.write_text(json.dumps(dict(results, sem_seg=sem)))
    with open(run / "metrics.json", "a", encoding="utf-8") as f:  # a periodic semantic evaluation
        f.write(json.dumps({"iteration": 3, "sem_seg/mIoU": 61.5}) + "\n")
    ap_report.main([str(run), "--output", str(tmp_path / "report")])
    md = (tmp_path / "report" / "report.md").read_text()
    header = md.splitlines()[2]
    assert "sem_seg mIoU | sem_seg fwIoU | sem_seg mACC | sem_seg pACC | sem_seg BoundaryIoU-person" in header
    assert "| 61.50 | 80.25 | 70.00 | 88.50 | 23.50 |" in md
    assert "## Semantic segmentation per class" in md and "| 82.00 | 41.00 |" in md
    row = next(csv.DictReader((tmp_path / "report" / "report.csv").open()))
    assert float(row["sem_seg IoU-person"]) == 41.0
    assert "<!-- sem_seg mIoU -->" in (tmp_path / "report" / "report.html").read_text()  # its AP-vs-iteration panel


def test_bad_run_folders_are_one_line_errors(person_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        ap_report.main([str(tmp_path), "--output", str(tmp_path / "r")])
    assert "no config.yaml" in capsys.readouterr().err
    run = tmp_path / "run"
    shutil.copytree(person_run, run, ignore=shutil.ignore_patterns("*.pth"))
    with open(run / "inference" / "pr_curves.npz", "wb") as f:  # a pickled object array
        np.savez(f, recall=np.array([{"a": 1}], dtype=object))
    with pytest.raises(LocalstyleError, match="pr_curves.npz: not a readable"):
        PRCurves.load(run / "inference" / "pr_curves.npz")


@pytest.mark.skipif(check_report_in_browser.find_browser() is None,
                    reason="no Chromium (apt-get install chromium-headless-shell) to render the report")
def test_report_renders_offline_in_headless_browser(report, tmp_path):
    page = check_report_in_browser.check_page(report / "report.html", screenshot=tmp_path / "shot.png")
    assert page.tables == 3 and page.svgs >= 3 and page.requests == []
    assert (tmp_path / "shot.png").read_bytes()[:4] == b"\x89PNG"
    # the recording proxy does see a page that fetches something
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<html><body><img src="http://example.invalid/plot.png"></body></html>')
    assert check_report_in_browser.check_page(leaky).requests == ["GET http://example.invalid/plot.png"]
