"""train_net.py --eval-only over 2 CPU processes gives the AP of one process: detectron2's thin R50-FPN fixture on a
small synthetic validation set, split across the ranks and gathered by the COCO evaluator."""
import json
import math
import os
import subprocess
import sys

from engine_helpers import D2_FIXTURES, REPO, cli_env
from localstyle.data.synthetic import make_synthetic


def _eval(tmp_path, json_file, num_gpus):
    out = tmp_path / f"eval{num_gpus}"
    cmd = [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file",
           os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--eval-only", "--num-gpus", str(num_gpus),
           "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"), "MODEL.DEVICE", "cpu",
           "MODEL.RUNTIME", "eager", "DATALOADER.NUM_WORKERS", "0",
           "DATASETS.REGISTER_COCO", repr([["dist_eval_val", json_file, str(tmp_path / "val")]]),
           "DATASETS.TEST", "('dist_eval_val',)", "OUTPUT_DIR", str(out)]
    proc = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "inference" / "results.json").read_text())


def test_eval_only_on_two_processes_gives_the_same_ap(tmp_path):
    json_file = make_synthetic(str(tmp_path), num_train=0, num_val=6, size=160, seed=0)["val"]
    one, two = _eval(tmp_path, json_file, 1), _eval(tmp_path, json_file, 2)
    assert one["timing"]["num_devices"] == 1 and two["timing"]["num_devices"] == 2
    assert two["timing"]["num_images"] == one["timing"]["num_images"] == 6
    assert one["bbox"]["AP"] > 10 and one["segm"]["AP"] > 10  # the fixture finds the synthetic people
    for task in ("bbox", "segm"):
        for key, value in one[task].items():
            assert (math.isnan(value) and math.isnan(two[task][key])) or abs(two[task][key] - value) < 1e-6, key
