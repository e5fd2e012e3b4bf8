"""SOLVER.EARLY_STOPPING: the count of evaluations without a better metric on hand-made metric series, and a tiny
train_net.py run evaluated after every iteration that stops, records why, and keeps the count across --resume.
The real runs use MIN_DELTA above any possible change, so that how training turns out does not matter."""
import json

import pytest
import torch
from torch import nn

from engine_helpers import make_tiny_synthetic, run_train_net
from localstyle.config import get_cfg
from localstyle.engine.checkpointer import Checkpointer
from localstyle.engine.early_stopping import EarlyStopping
from localstyle.engine.hooks import MetricsWriter, read_metrics
from localstyle.utils.errors import LocalstyleError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _hook(tmp_path, mode="max", patience=2, min_delta=0.0, start_iter=0, writer=None):
    checkpointer = Checkpointer(nn.Linear(2, 2), str(tmp_path), save_to_disk=True)
    return EarlyStopping(checkpointer, "bbox/AP", mode, patience, min_delta, start_iter, writer)


def _steps(hook, values):
    """Step through ``values`` (evaluations after iterations 0, 1, ...); the iteration of the stop or None."""
    for iteration, value in enumerate(values):
        if hook.step(iteration, {"bbox/AP": value}):
            return iteration
    return None


def test_counts_evaluations_without_improvement_beyond_min_delta(tmp_path):
    assert _steps(_hook(tmp_path / "a"), [10, 11, 11, 10.5]) == 3  # equal is not better
    assert _steps(_hook(tmp_path / "b"), [10, 9, 12, 11, 13, 12]) is None  # 12 and 13 reset the count
    assert _steps(_hook(tmp_path / "c", min_delta=0.5), [10, 10.4, 10.8, 10.9, 11.0]) == 4  # 10.8 counts, 10.4 not
    hook = _hook(tmp_path / "d", min_delta=0.5)  # the best stays the last value that counted as better
    assert _steps(hook, [10, 10.4, 10.45]) == 2 and (hook.tracker.best_value, hook.tracker.best_iter) == (10, 0)
    lowest = _hook(tmp_path / "e", mode="min", patience=3)
    assert _steps(lowest, [2.0, float("nan"), 1.5, 1.6, 1.5, 1.7]) == 5  # NaN is never better
    assert lowest.message() == "bbox/AP has not improved for 3 evaluations; best 1.50000 at iteration 2"
    hook = _hook(tmp_path / "f")
    assert not hook.step(0, {"segm/AP": 1.0}) and hook.stale == 0  # metric not computed: not counted
    with pytest.raises(LocalstyleError, match="MODE must be 'max' or 'min'"):
        _hook(tmp_path, mode="best")
    with pytest.raises(LocalstyleError, match="MIN_DELTA >= 0"):
        _hook(tmp_path, min_delta=-1)


def test_stop_saves_model_final_and_records_it(tmp_path):
    writer = MetricsWriter(str(tmp_path), max_iter=100)
    hook = _hook(tmp_path, patience=1, writer=writer)
    assert _steps(hook, [30.0, 29.0]) == 1 and hook.should_stop()
    writer.close()
    assert torch.load(tmp_path / "model_final.pth", weights_only=True)["iteration"] == 1
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    assert read_metrics(tmp_path / "metrics.json")[-1] == {
        "iteration": 1, "early_stopping/stale_evaluations": 1, "early_stopping/best_iteration": 0,
        "early_stopping/best_value": 30.0}


def test_resume_replays_earlier_evaluations(tmp_path):
    rows = [{"iteration": 4, "bbox/AP": 30.0}, {"iteration": 9, "bbox/AP": 29.0}, {"iteration": 14, "bbox/AP": 99.0}]
    (tmp_path / "metrics.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    hook = _hook(tmp_path, patience=2, start_iter=10)  # resumed at 10: 99.0 is in the future
    assert hook.stale == 1 and not hook.should_stop()
    assert hook.step(14, {"bbox/AP": 29.5}) and hook.message().endswith("best 30.00000 at iteration 4")
    assert _hook(tmp_path, patience=1, start_iter=10).should_stop()  # had run out of patience at 9
    assert _hook(tmp_path, patience=3, start_iter=10).stale == 1


def test_needs_periodic_evaluation():
    cfg = get_cfg()
    cfg.SOLVER.EARLY_STOPPING.PATIENCE = 2
    cfg.DATASETS.TEST = ("coco_2017_val",)
    with pytest.raises(LocalstyleError, match="needs evaluations during training: set TEST.EVAL_PERIOD"):
        EarlyStopping.from_config(cfg, None, 0)
    cfg.SOLVER.EARLY_STOPPING.PATIENCE = 0
    assert EarlyStopping.from_config(cfg, None, 0) is None


@pytest.fixture(scope="module")
def data_opts(tmp_path_factory):
    return make_tiny_synthetic(tmp_path_factory.mktemp("synthetic"), name="earlystop")


def _opts(data_opts, out, max_iter, *extra):
    # val_total_loss is finite whatever the weights (AP can be NaN without detections); no later value can be
    # lower by more than 1e9, so only the first evaluation is ever an improvement.
    return [*data_opts, "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", str(max_iter), "TEST.EVAL_PERIOD", "1",
            "TEST.VAL_LOSS", "True", "SOLVER.BEST_CHECKPOINT.ENABLED", "True",
            "SOLVER.BEST_CHECKPOINT.METRIC", "val_total_loss", "SOLVER.BEST_CHECKPOINT.MODE", "min",
            "SOLVER.EARLY_STOPPING.PATIENCE", "2", "SOLVER.EARLY_STOPPING.MIN_DELTA", "1e9",
            "SOLVER.CHECKPOINT_PERIOD", "100", *extra]


def _evaluated(out):
    return [r["iteration"] for r in read_metrics(out / "metrics.json") if "val_total_loss" in r]


@pytest.fixture(scope="module")
def stopped_run(data_opts, tmp_path_factory):
    """2 iterations evaluated after iterations 0 (periodic) and 1 (final): one evaluation without improvement;
    then resumed with 20 iterations: the evaluation after iteration 2 is the second, and training stops."""
    out = tmp_path_factory.mktemp("stopped")
    run_train_net(*_opts(data_opts, out, 2))
    assert _evaluated(out) == [0, 1]
    proc = run_train_net("--resume", *_opts(data_opts, out, 20))
    return out, proc.stdout + proc.stderr


def test_training_stops_after_patience_evaluations(stopped_run):
    out, log = stopped_run
    assert _evaluated(out) == [0, 1, 2]  # the count went on across --resume
    rows = read_metrics(out / "metrics.json")
    first = next(r["val_total_loss"] for r in rows if "val_total_loss" in r)
    assert "early stopping at iteration 2: val_total_loss has not improved for 2 evaluations; best " \
           f"{first:.5f} at iteration 0" in log
    assert rows[-1] == {"iteration": 2, "early_stopping/stale_evaluations": 2, "early_stopping/best_iteration": 0,
                        "early_stopping/best_value": first}
    assert max(r["iteration"] for r in rows if "total_loss" in r) == 2  # no training after the stop
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 2
    lowest = min((r for r in rows if "val_total_loss" in r), key=lambda r: r["val_total_loss"])  # any decrease
    assert torch.load(out / "model_best.pth", weights_only=True)["iteration"] == lowest["iteration"]
    assert (out / "last_checkpoint").read_text() == "model_final.pth"


def test_resume_after_the_stop_trains_no_further(stopped_run, data_opts):
    out, _ = stopped_run
    proc = run_train_net("--resume", *_opts(data_opts, out, 20))
    assert "patience ran out at iteration 2, before this resumed run" in proc.stdout + proc.stderr
    assert _evaluated(out) == [0, 1, 2]
    assert torch.load(out / "model_final.pth", weights_only=True)["iteration"] == 2
