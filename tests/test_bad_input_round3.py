"""Bad input, round 3 (issue 22): the cases that still ended in a traceback or a silently wrong result. Each test
names the item of the issue it covers."""
import json
import logging
import os

import pytest

from engine_helpers import D2_FIXTURES, load_script
from localstyle.config import get_cfg
from localstyle.engine.hooks import MetricsWriter, read_metrics
from localstyle.utils.errors import LocalstyleError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------------------------- 3. export, no detections
def test_export_with_no_detections_on_the_sample_image(tmp_path, capsys):
    out = tmp_path / "export"
    path = load_script("tools", "export_model.py").main([
        "--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--format", "torchscript",
        "--output", str(out), "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"),
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0"])
    assert path == str(out / "model.ts") and os.path.isfile(path)
    assert "n=0 same=True" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- 2. torn metrics.json
def _run_dir(path, metrics_text):
    """A train_net.py OUTPUT_DIR holding ``config.yaml`` and ``metrics_text`` as metrics.json."""
    path.mkdir()
    (path / "config.yaml").write_text(get_cfg().dump())
    (path / "metrics.json").write_text(metrics_text)
    return path


TORN = "".join(json.dumps({"iteration": i, "total_loss": 1.0 / (i + 1), "lr": 0.01, "time": 0.5}) + "\n" for i in range(4)) \
    + '{"iteration": 4, "total_lo'


def test_torn_metrics_line_is_dropped_on_resume_and_in_reports(tmp_path, caplog, capsys):
    run = _run_dir(tmp_path / "run", TORN)
    with caplog.at_level(logging.WARNING):
        assert [r["iteration"] for r in read_metrics(str(run / "metrics.json"))] == [0, 1, 2, 3]
    assert sum("line 5 is cut short" in r.getMessage() for r in caplog.records) == 1
    load_script("tools", "ap_report.py").main([str(run), "--output", str(tmp_path / "report")])
    assert "wrote" in capsys.readouterr().out and (tmp_path / "report" / "report.html").is_file()
    # --resume at iteration 3: the rows of iterations >= 3 and the torn line go, the file is valid JSON lines again
    MetricsWriter(str(run), max_iter=10, start_iter=3).close()
    lines = (run / "metrics.json").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2]
    # a bad line that is not the last one is not a torn write: one line naming the file and line
    bad = _run_dir(tmp_path / "bad", TORN.replace('{"iteration": 1', 'garbage{"iteration": 1'))
    with pytest.raises(LocalstyleError, match=r"metrics.json: line 2 is not a JSON object"):
        read_metrics(str(bad / "metrics.json"))
