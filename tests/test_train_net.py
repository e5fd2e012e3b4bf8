"""train_net.py end to end on a tiny CPU model: output layout, exact resume after SIGKILL, divergence stop,
--eval-only, config errors."""
import json
import math
import os
import signal
import subprocess
import time

import pytest
import torch

from engine_helpers import UNITTEST_CONFIG, cli_env, load_script, make_tiny_synthetic, run_train_net, train_net_command
from localstyle.config import load_config

NO_TEST = ["DATASETS.TEST", "()"]


@pytest.fixture(scope="module")
def data_opts(tmp_path_factory):
    return make_tiny_synthetic(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def full_run(data_opts, tmp_path_factory):
    """An uninterrupted 6-iteration run (checkpoints after iterations 2 and 5), evaluated after iterations 2 and 5."""
    out = tmp_path_factory.mktemp("full")
    run_train_net(*data_opts, "OUTPUT_DIR", str(out), "TEST.EVAL_PERIOD", "3")
    return out


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_output_dir_layout(full_run):
    out = full_run
    cfg = load_config(str(out / "config.yaml"))
    assert cfg.SOLVER.MAX_ITER == 6 and cfg.OUTPUT_DIR == str(out) and cfg.DATASETS.TRAIN == ("mine_train",)
    assert "Starting training from iteration 0" in (out / "log.txt").read_text()
    lines = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    train_lines = [r for r in lines if "total_loss" in r]
    assert train_lines[-1]["iteration"] == 5
    for key in ("loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls", "loss_rpn_loc", "lr", "time", "data_time"):
        assert key in train_lines[-1]
    assert train_lines[-1]["images"] == 2
    assert [r["iteration"] for r in lines if "bbox/AP" in r] == [2, 5]  # periodic + final evaluation
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    assert (out / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    ckpt = torch.load(out / "model_0000002.pth", map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "scheduler", "iteration"} <= set(ckpt) and ckpt["iteration"] == 2
    assert "backbone.bottom_up.stem.conv1.weight" in ckpt["model"]
    # final evaluation on DATASETS.TEST
    inference = out / "inference"
    results = json.loads((inference / "results.json").read_text())
    assert set(results["bbox"]) == {"AP", "AP50", "AP75", "APs", "APm", "APl"}
    assert results["timing"]["inference_ms_per_image"] > 0 and results["timing"]["num_images"] == 3
    assert "| bbox |" in (inference / "ap_table.md").read_text()
    dets = json.loads((inference / "coco_instances_results.json").read_text())
    assert isinstance(dets, list) and all(d["category_id"] in (1, 2) for d in dets)


def test_resume_after_sigkill_matches_uninterrupted_run(full_run, data_opts, tmp_path):
    # also shows that the periodic evaluation of full_run leaves training untouched
    out = tmp_path / "killed"
    proc = subprocess.Popen(train_net_command(*data_opts, *NO_TEST, "OUTPUT_DIR", str(out)), env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tag = out / "last_checkpoint"
    deadline = time.time() + 300
    while not tag.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tag.read_text() == "model_0000002.pth" and not (out / "model_final.pth").exists()
    proc = run_train_net("--resume", *data_opts, *NO_TEST, "OUTPUT_DIR", str(out))
    assert "Starting training from iteration 3" in proc.stdout
    final, reference = _weights(out / "model_final.pth"), _weights(full_run / "model_final.pth")
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in final)
    iterations = [json.loads(line)["iteration"] for line in (out / "metrics.json").read_text().splitlines()]
    assert iterations == sorted(set(iterations))


def test_divergence_stops_with_clear_error_and_keeps_last_good_checkpoint(data_opts, tmp_path):
    # LR x 1e12 from iteration 2 on (the end of warmup): the model blows up right after the checkpoint of iteration 1
    proc = run_train_net(*data_opts, *NO_TEST, "OUTPUT_DIR", str(tmp_path), "SOLVER.STEPS", "(2,)",
                         "SOLVER.GAMMA", "1e12", "SOLVER.CHECKPOINT_PERIOD", "2", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]  # one line naming the iteration, the losses and the metrics
    assert error.startswith("error: ") and "iteration=" in error and "loss" in error and "metrics.json" in error
    iterations = [json.loads(line)["iteration"] for line in (tmp_path / "metrics.json").read_text().splitlines()]
    assert iterations and max(iterations) >= 1
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    weights = _weights(tmp_path / "model_0000001.pth")
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert not (tmp_path / "model_final.pth").exists()


def test_nan_loss_names_iteration_and_losses(data_opts, tmp_path):
    from localstyle.engine.trainer import Trainer

    cfg = load_config(UNITTEST_CONFIG, [*data_opts, *NO_TEST, "OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "2"])
    trainer = Trainer(cfg)
    with torch.no_grad():
        trainer.model.roi_heads.mask_head.predictor.bias.fill_(float("nan"))  # only loss_mask becomes NaN
    with pytest.raises(FloatingPointError, match=r"iteration=0.*loss_mask=nan"):
        trainer.train()
    assert not (tmp_path / "last_checkpoint").exists()


def test_eval_only_writes_detectron2_results(full_run, data_opts, tmp_path):
    proc = run_train_net("--eval-only", *data_opts, "OUTPUT_DIR", str(tmp_path),
                         "MODEL.WEIGHTS", str(full_run / "model_final.pth"))
    results = json.loads((tmp_path / "inference" / "results.json").read_text())
    reference = json.loads((full_run / "inference" / "results.json").read_text())
    for task in ("bbox", "segm", "sem_seg"):
        for k, v in reference.get(task, {}).items():
            assert (math.isnan(v) and math.isnan(results[task][k])) or results[task][k] == pytest.approx(v)
    # the instance masks merged per image give the semantic figures too (one table for Mask R-CNN and DeepLabv3)
    assert 0 <= results["sem_seg"]["IoU-person"] <= 100 and "BoundaryIoU-person" in results["sem_seg"]
    assert "AP" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["SOLVER.NOT_A_KEY", "1"], "unknown config key SOLVER.NOT_A_KEY"),
    (["--eval-only", "DATASETS.TEST", "()"], "--eval-only needs DATASETS.TEST"),
    (["MODEL.DEVICE", "cuda"], "CUDA is not available") if not torch.cuda.is_available()
    else (["SOLVER.STEPS", "x"], "SOLVER.STEPS"),
])
def test_config_errors_are_one_line(args, message, capsys):
    train_net = load_script("train_net.py")
    with pytest.raises(SystemExit) as exc:
        train_net.cli(["--config-file", UNITTEST_CONFIG, *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert message in err
