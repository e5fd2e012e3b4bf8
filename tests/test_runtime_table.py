"""tools/benchmark.py --task runtimes: one table (Markdown + CSV) per runtime x precision with box/mask AP on
DATASETS.TEST[0], ms/image, speed-up over eager fp32, model file size and the CPU's native/emulated flag; detectron2's
thin R50-FPN fixture on 3 synthetic images."""
import csv
import os

import pytest

from engine_helpers import D2_FIXTURES, load_script
from localstyle.data.synthetic import make_synthetic
from localstyle.evaluation.runtime_table import parse_runs
from localstyle.utils.errors import LocalstyleError


def test_runtimes_table(tmp_path, capsys):
    jsons = make_synthetic(str(tmp_path), 0, 3, 320, seed=5)
    out = tmp_path / "out"
    rows = load_script("tools", "benchmark.py").main([
        "--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--task", "runtimes",
        "--runs", "eager:fp32,onnxruntime:fp32,openvino:fp32,openvino:int8",
        "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"), "DATALOADER.NUM_WORKERS", "0",
        "DATASETS.REGISTER_COCO", repr([["rt_val", jsons["val"], str(tmp_path / "val")]]),
        "DATASETS.TEST", "('rt_val',)", "DATASETS.TRAIN", "()", "OUTPUT_DIR", str(out)])
    # int8 needs calibration images (no DATASETS.TRAIN or MODEL.INT8.CALIB_FOLDER here): one line, row left out
    assert [(r.runtime, r.precision) for r in rows] == [("eager", "fp32"), ("onnxruntime", "fp32"),
                                                         ("openvino", "fp32")]
    printed = capsys.readouterr()
    assert "openvino int8 left out of the table: MODEL.PRECISION int8 needs calibration images" in printed.out
    eager = rows[0]
    assert eager.speedup == 1.0 and eager.box_ap > 10 and eager.mask_ap > 10  # the fixture model detects
    assert eager.file_mb == pytest.approx(os.path.getsize(os.path.join(D2_FIXTURES, "thin_r50_fpn.pth")) / 2**20)
    for r in rows:
        assert r.cpu == "native" and r.ms_per_image > 0 and r.file_mb > 5
        assert abs(r.box_ap - eager.box_ap) < 0.5 and abs(r.mask_ap - eager.mask_ap) < 0.5  # same predictor
    md = (out / "runtimes.md").read_text()
    assert md.strip() in printed.out and "speed-up vs eager fp32" in md and md.count("\n") == 5
    with open(out / "runtimes.csv") as f:
        table = list(csv.DictReader(f))
    assert [t["runtime"] for t in table] == ["eager", "onnxruntime", "openvino"] and float(table[0]["speedup"]) == 1.0


def test_parse_runs():
    assert parse_runs("eager:fp32,openvino:int8") == (("eager", "fp32"), ("openvino", "int8"))
    with pytest.raises(LocalstyleError, match="RUNTIME:PRECISION"):
        parse_runs("eager")
