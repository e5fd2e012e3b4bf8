"""Bad input, round 3 (issue 22): the cases that still ended in a traceback or a silently wrong result. Each test
names the item of the issue it covers."""
import os

import pytest

from engine_helpers import D2_FIXTURES, load_script

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
