"""Evaluation-time features on a tiny model trained on the spot: TEST.AUG test-time augmentation (--eval-only,
inference_TTA), TEST.PRECISE_BN, SOLVER.BEST_CHECKPOINT and TEST.VAL_LOSS."""
import json
import logging
import math
import os

import pytest
import torch
from torch import nn

from engine_helpers import D2_FIXTURES, UNITTEST_CONFIG, load_script, make_tiny_synthetic, run_train_net
from localstyle.config import load_config
from localstyle.data import register_datasets_from_cfg
from localstyle.data.build import build_detection_test_loader
from localstyle.engine.best_checkpoint import BestCheckpointer
from localstyle.engine.checkpointer import Checkpointer
from localstyle.engine.precise_bn import precise_bn
from localstyle.engine.validation_loss import validation_loss
from localstyle.modeling import build_model
from localstyle.modeling.test_time_augmentation import GeneralizedRCNNWithTTA
from localstyle.utils.errors import LocalstyleError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data_opts(tmp_path_factory):
    return make_tiny_synthetic(tmp_path_factory.mktemp("synthetic"), name="evalfeat")


@pytest.fixture(scope="module")
def trained(data_opts, tmp_path_factory):
    """6 iterations evaluated after iterations 2 and 5, with precise BN, validation loss and best checkpoint."""
    out = tmp_path_factory.mktemp("run")
    proc = run_train_net(*data_opts, "OUTPUT_DIR", str(out), "TEST.EVAL_PERIOD", "3", "TEST.VAL_LOSS", "True",
                         "TEST.PRECISE_BN.ENABLED", "True", "TEST.PRECISE_BN.NUM_ITER", "2",
                         "SOLVER.BEST_CHECKPOINT.ENABLED", "True", "SOLVER.BEST_CHECKPOINT.METRIC", "val_total_loss",
                         "SOLVER.BEST_CHECKPOINT.MODE", "min")
    return out, proc.stdout


def _cfg(data_opts, *opts):
    cfg = load_config(UNITTEST_CONFIG, [*data_opts, *opts])
    register_datasets_from_cfg(cfg)
    return cfg


def _rows(out):
    return [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]


def test_validation_loss_logged_at_each_evaluation(trained):
    out, _ = trained
    rows = [r for r in _rows(out) if "val_total_loss" in r]
    assert [r["iteration"] for r in rows] == [2, 5]
    for r in rows:
        parts = [v for k, v in r.items() if k.startswith("val_loss_")]
        assert len(parts) == 5 and all(math.isfinite(v) and v >= 0 for v in parts)
        assert r["val_total_loss"] == pytest.approx(sum(parts))
        assert "bbox/AP" in r  # same line as the evaluation


def test_best_checkpoint_follows_the_metric(trained):
    out, log = trained
    rows = [r for r in _rows(out) if "val_total_loss" in r]
    best = min(rows, key=lambda r: r["val_total_loss"])
    ckpt = torch.load(out / "model_best.pth", map_location="cpu", weights_only=True)
    assert ckpt["iteration"] == best["iteration"] and "optimizer" in ckpt
    assert "Saved model_best: val_total_loss" in log
    assert (out / "last_checkpoint").read_text() == "model_final.pth"
    assert "TEST.PRECISE_BN: recomputing the statistics of 53 BatchNorm layers over 2 training batches" in log


def test_best_checkpointer_compares_and_resumes(tmp_path):
    (tmp_path / "metrics.json").write_text("".join(json.dumps(r) + "\n" for r in [
        {"iteration": 9, "bbox/AP": 30.0}, {"iteration": 19, "bbox/AP": 35.0}, {"iteration": 29, "bbox/AP": 99.0}]))
    checkpointer = Checkpointer(nn.Linear(2, 2), str(tmp_path), save_to_disk=True)
    best = BestCheckpointer(checkpointer, "bbox/AP", "max", start_iter=20)  # resumed at 20: 99.0 is in the future
    assert (best.tracker.best_value, best.tracker.best_iter) == (35.0, 19)
    assert not best.step(29, {"bbox/AP": 34.0}) and not (tmp_path / "model_best.pth").exists()
    assert not best.step(29, {"bbox/AP": float("nan")}) and not best.step(29, {"segm/AP": 50.0})
    assert best.step(39, {"bbox/AP": 36.0})
    assert torch.load(tmp_path / "model_best.pth", weights_only=True)["iteration"] == 39
    assert not (tmp_path / "last_checkpoint").exists()
    lowest = BestCheckpointer(checkpointer, "val_total_loss", "min")
    assert not lowest.step(0, {"val_total_loss": float("nan")})
    assert lowest.step(1, {"val_total_loss": 2.0}) and lowest.step(2, {"val_total_loss": 1.5})
    assert not lowest.step(3, {"val_total_loss": 1.7})
    with pytest.raises(LocalstyleError, match="SOLVER.BEST_CHECKPOINT.MODE"):
        BestCheckpointer(checkpointer, "bbox/AP", "best")


def test_precise_bn_sets_population_statistics(data_opts):
    torch.manual_seed(0)
    cfg = _cfg(data_opts, "TEST.PRECISE_BN.ENABLED", "True", "TEST.PRECISE_BN.NUM_ITER", "3")
    model = build_model(cfg)
    bn = model.backbone.bottom_up.stem.conv1.norm
    seen = []
    hook = bn.register_forward_pre_hook(lambda m, x: seen.append(x[0].detach().transpose(0, 1).flatten(1)))
    bn.running_mean.fill_(5.0)
    assert precise_bn(cfg, model, start_iter=0) == 53
    hook.remove()
    values = torch.cat(seen, dim=1)  # channels x all elements of the 3 batches
    assert len(seen) == 3 and model.training
    torch.testing.assert_close(bn.running_mean, values.mean(dim=1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bn.running_var, values.var(dim=1, unbiased=False), rtol=1e-3, atol=1e-4)


def test_precise_bn_is_a_logged_no_op_for_frozen_bn(data_opts):
    cfg = _cfg(data_opts, "TEST.PRECISE_BN.ENABLED", "True", "MODEL.RESNETS.NORM", "FrozenBN")
    model = build_model(cfg)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("localstyle.engine.precise_bn")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert precise_bn(cfg, model, start_iter=0) == 0
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert any("no trainable BatchNorm" in r.getMessage() for r in records)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_validation_loss_changes_no_state(data_opts):
    torch.manual_seed(0)
    cfg = _cfg(data_opts)
    model = build_model(cfg)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = validation_loss(cfg, model)
    assert model.training and set(losses) >= {"val_loss_cls", "val_loss_mask", "val_total_loss"}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.fixture(scope="module")
def trained_model(trained, data_opts):
    out, _ = trained
    cfg = _cfg(data_opts, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    model = build_model(cfg)
    Checkpointer(model, str(out)).load(str(out / "model_final.pth"))
    # After 6 iterations the mask head predicts background everywhere: give its last layer random weights, so that
    # the masks have shapes to compare.
    torch.manual_seed(0)
    with torch.no_grad():
        nn.init.normal_(model.roi_heads.mask_head.predictor.weight, std=1.0)
        model.roi_heads.mask_head.predictor.bias.zero_()
    model.eval()
    inputs = [batch[0] for batch in build_detection_test_loader(cfg, cfg.DATASETS.TEST[0])]
    return cfg, model, inputs


def _non_empty(masks):
    return int(masks.flatten(1).any(dim=1).sum())


def _tta(cfg, model, min_sizes, flip):
    cfg = cfg.clone()
    cfg.merge_from_list(["TEST.AUG.MIN_SIZES", repr(min_sizes), "TEST.AUG.FLIP", repr(flip)])
    return GeneralizedRCNNWithTTA(cfg, model).eval()


def test_tta_with_one_view_equals_plain_inference(trained_model):
    cfg, model, inputs = trained_model
    tta = _tta(cfg, model, (cfg.INPUT.MIN_SIZE_TEST,), False)
    with torch.no_grad():
        plain, augmented = model([inputs[0]])[0]["instances"], tta([inputs[0]])[0]["instances"]
    assert len(plain) > 0 and len(augmented) == len(plain)
    torch.testing.assert_close(augmented.pred_boxes.tensor, plain.pred_boxes.tensor)
    torch.testing.assert_close(augmented.scores, plain.scores)
    assert torch.equal(augmented.pred_classes, plain.pred_classes)
    assert torch.equal(augmented.pred_masks, plain.pred_masks) and _non_empty(plain.pred_masks) > len(plain) // 2


def test_tta_of_a_mirrored_image_is_mirrored(trained_model):
    """Views at two scales plus their flips: the mirrored image has the same set of views, so every merged
    detection comes back mirrored (this checks the box/mask inverse transforms and the merge)."""
    cfg, model, inputs = trained_model
    tta = _tta(cfg, model, (80, 112), True)
    mirrored = dict(inputs[0], image=inputs[0]["image"].flip(-1))
    a, b = (tta([x])[0]["instances"] for x in (inputs[0], mirrored))
    width = inputs[0]["width"]
    assert len(a) > 0 and len(a) == len(b)
    torch.testing.assert_close(b.scores, a.scores, rtol=1e-3, atol=1e-3)
    assert torch.equal(b.pred_classes, a.pred_classes)
    boxes = a.pred_boxes.tensor
    mirrored_boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
    torch.testing.assert_close(b.pred_boxes.tensor, mirrored_boxes, rtol=0, atol=0.05)
    assert _non_empty(a.pred_masks) > len(a) // 2
    assert (b.pred_masks != a.pred_masks.flip(-1)).float().mean() < 1e-3


def test_eval_only_with_tta_writes_inference_tta(tmp_path):
    """detectron2's thin fixture model (trained on this synthetic kind of image, tests/fixtures/detectron2), not a
    few-iteration model: whether that one detects anything depends on the CPU's float rounding."""
    data_opts = make_tiny_synthetic(tmp_path / "data", name="ttafixture", num_train=1, num_val=3, size=320)
    load_script("train_net.py").cli(["--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), "--eval-only",
                                     *data_opts, "MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out"),
                                     "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"),
                                     "TEST.AUG.ENABLED", "True", "TEST.AUG.MIN_SIZES", "(288, 352)"])
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "Evaluating with test-time augmentation: sizes (288, 352), flip True" in log
    for folder in ("inference", "inference_TTA"):
        results = json.loads((tmp_path / "out" / folder / "results.json").read_text())
        assert set(results["bbox"]) >= {"AP", "AP50"} and results["timing"]["num_images"] == 3
        assert math.isfinite(results["bbox"]["AP"]) and math.isfinite(results["segm"]["AP"])
    plain = json.loads((tmp_path / "out" / "inference" / "coco_instances_results.json").read_text())
    augmented = json.loads((tmp_path / "out" / "inference_TTA" / "coco_instances_results.json").read_text())
    assert plain and augmented and plain != augmented and all("segmentation" in r for r in augmented)
