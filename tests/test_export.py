"""Exported predictor (tools/export_model.py, localstyle.export): ONNX via onnxruntime and TorchScript reproduce the
eager model on detectron2's thin R50-FPN fixture, at image sizes other than the traced one and with zero detections;
MODEL.RUNTIME / MODEL.EXPORTED select them, and an empty MODEL.EXPORTED exports once into the cache."""
import os

import cv2
import numpy as np
import pytest
import torch

from engine_helpers import D2_FIXTURES, load_script, thin_r50_cfg
from localstyle.engine.predictor import DefaultPredictor
from localstyle.export.parity import compare_instances
from localstyle.export.runtimes import build_runtime, runtime_class
from localstyle.modeling import build_model
from localstyle.modeling.weight_loading import load_model_weights
from localstyle.utils.errors import LocalstyleError

IMAGES = ["synthetic_val_0001.png", "coco_train2017_000000360452.jpg"]


def _blank():
    """A flat grey image: the thin model finds nothing in it above score 0.3."""
    return np.full((270, 350, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def plain_eager():
    """The eager model exactly as built and loaded (no folding), and a predictor for its preprocessing."""
    torch.set_num_threads(2)
    cfg = thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", "eager")
    model = build_model(cfg).eval()
    load_model_weights(model, cfg)
    return model, DefaultPredictor(cfg)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino", "torchscript"])
def test_exported_matches_eager(runtime, thin_exports, plain_eager):
    model, pred = plain_eager
    exported = DefaultPredictor(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", runtime,
                                             "MODEL.EXPORTED", thin_exports[runtime]))
    assert exported.model is None and isinstance(exported.runtime, runtime_class(runtime))
    images = [cv2.imread(os.path.join(D2_FIXTURES, n), cv2.IMREAD_COLOR) for n in IMAGES] + [_blank()]
    sizes = set()
    for image in images:
        inp = pred._prepare(image)
        sizes.add(tuple(inp["image"].shape[1:]))
        with torch.no_grad():
            ref = model([inp])[0]["instances"]
        out = exported(image)["instances"]
        assert out.image_size == ref.image_size == image.shape[:2]
        assert out.pred_masks.dtype == torch.bool and out.pred_masks.shape[1:] == image.shape[:2]
        parity = compare_instances(out, ref)
        assert parity.within(), (runtime, parity)
        blank = out[out.scores > 0.3]
        if image is images[-1]:
            assert len(blank) == 0 and blank.pred_masks.shape == (0,) + image.shape[:2]
        else:
            assert len(ref) > 0
    assert len(sizes) == len(images)  # every image has its own resized size: the graph is not tied to one


def test_zero_detections_everywhere(thin_exports):
    """A threshold above every score: all runtimes return empty, well-formed Instances."""
    for runtime, path in [("eager", ""), *thin_exports.items()]:
        cfg = thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", runtime, "MODEL.EXPORTED", path)
        out = DefaultPredictor(cfg)(_blank())["instances"]
        out = out[out.scores > 0.99]
        assert len(out) == 0 and out.pred_boxes.tensor.shape == (0, 4) and out.pred_masks.shape == (0, 270, 350)


def test_run_thresholds_and_nms_line(thin_exports, caplog):
    """One export (made at 0.05, 100 per image) applies each run's SCORE_THRESH_TEST and DETECTIONS_PER_IMAGE; a run's
    NMS_THRESH_TEST that differs from the one traced in is reported in one line."""
    image = cv2.imread(os.path.join(D2_FIXTURES, IMAGES[1]), cv2.IMREAD_COLOR)
    for runtime, path in thin_exports.items():
        def run(thresh, *opts):
            cfg = thin_r50_cfg("thin_r50_fpn.pth", thresh, "MODEL.RUNTIME", runtime, "MODEL.EXPORTED", path, *opts)
            return DefaultPredictor(cfg)(image)["instances"]

        full = run(0.05)
        assert len(full) > 10
        top3, high = run(0.05, "TEST.DETECTIONS_PER_IMAGE", "3"), run(0.3)
        assert torch.equal(top3.scores, full.scores[:3]) and torch.equal(top3.pred_masks, full.pred_masks[:3])
        assert 0 < len(high) < len(full) and torch.equal(high.scores, full.scores[full.scores > 0.3])
    caplog.clear()
    run(0.05, "MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.3")
    lines = [r.getMessage() for r in caplog.records if "NMS_THRESH_TEST" in r.getMessage()]
    assert len(lines) == 1 and "0.3 is not honoured" in lines[0] and "applies 0.5" in lines[0]


def test_cache_and_cli(tmp_path, monkeypatch, capsys, thin_exports):
    """Empty MODEL.EXPORTED exports once into $LOCALSTYLE_CACHE (reused by the next predictor, with its weight-loading
    report); the CLI writes the model and config.yaml and checks itself against the eager model; bad settings are
    one-line errors."""
    monkeypatch.setenv("LOCALSTYLE_CACHE", str(tmp_path / "cache"))
    cfg = thin_r50_cfg("thin_r50_fpn.pth", 0.3, "MODEL.RUNTIME", "onnxruntime")
    first = build_runtime(cfg)
    files = [os.path.join(r, f) for r, _, fs in os.walk(tmp_path / "cache") for f in fs if f == "model.onnx"]
    assert len(files) == 1
    mtime = os.path.getmtime(files[0])
    second = build_runtime(cfg)
    assert os.path.getmtime(files[0]) == mtime  # reused: not exported again; the load report comes with it
    assert second.load_report["tensors"] == first.load_report["tensors"] > 0 and not second.load_report["missing"]
    image = cv2.imread(os.path.join(D2_FIXTURES, IMAGES[0]), cv2.IMREAD_COLOR)
    with_thresh = DefaultPredictor(cfg)(image)["instances"]
    assert len(with_thresh) and with_thresh.scores.min() > 0.3  # the run's score threshold is applied

    out = tmp_path / "cli"
    load_script("tools", "export_model.py").main(["--config-file", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"),
                                                  "--format", "torchscript", "--output", str(out), "MODEL.WEIGHTS",
                                                  os.path.join(D2_FIXTURES, "thin_r50_fpn.pth")])
    printed = capsys.readouterr().out
    assert (out / "model.ts").is_file() and (out / "config.yaml").is_file() and "min_mask_iou" in printed
    assert "run it with: MODEL.RUNTIME torchscript MODEL.EXPORTED" in printed  # the runtime it was checked with

    for opts, words in [(["MODEL.RUNTIME", "tensorrt"], "unknown runtime"),
                        (["MODEL.RUNTIME", "onnxruntime", "MODEL.EXPORTED", str(tmp_path / "no.onnx")], "no such"),
                        (["MODEL.RUNTIME", "onnxruntime", "MODEL.EXPORTED", thin_exports["torchscript"]],
                         "cannot load ONNX model"),
                        (["MODEL.RUNTIME", "torchscript", "MODEL.PRECISION", "bf16"], "eager or openvino"),
                        (["MODEL.RUNTIME", "openvino", "MODEL.EXPORTED", thin_exports["torchscript"]], "OpenVINO")]:
        with pytest.raises(LocalstyleError, match=words):
            build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, *opts))
    # a model the exporter does not cover (no mask head here; DeepLabv3 alike) runs eager instead of failing
    boxes_only = thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", "onnxruntime", "MODEL.MASK_ON", "False")
    assert isinstance(build_runtime(boxes_only), runtime_class("eager"))


def test_cache_key_cap_and_tool(tmp_path, monkeypatch, capsys):
    """The cache is keyed by what changes the exported model: STYLE/MASKS keys and the run-time thresholds reuse the
    export, NMS_THRESH_TEST (traced in) does not; LOCALSTYLE_EXPORT_CACHE_MB drops the least recently used entry;
    tools/export_cache.py reports the size and clears."""
    from localstyle.export.cache import cache_entries

    monkeypatch.setenv("LOCALSTYLE_CACHE", str(tmp_path))
    base = ["MODEL.RUNTIME", "onnxruntime"]
    build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, *base))
    build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.3, *base, "STYLE.STRENGTH", "0.5", "MASKS.SCORE_THRESH", "0.7",
                               "TEST.DETECTIONS_PER_IMAGE", "5", "MODEL.RUNTIME", "openvino"))
    (first,) = cache_entries()
    assert first.files == ["config.yaml", "load_report.json", "model.onnx"]
    monkeypatch.setenv("LOCALSTYLE_EXPORT_CACHE_MB", str(first.size * 1.5 / 2**20))  # room for one entry
    build_runtime(thin_r50_cfg("thin_r50_fpn.pth", 0.05, *base, "MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.6"))
    (second,) = cache_entries()
    assert second.folder != first.folder and not os.path.exists(first.folder)

    tool = load_script("tools", "export_cache.py")
    assert len(tool.main([])) == 1 and "1 entries" in capsys.readouterr().out
    tool.main(["--clear"])
    assert not cache_entries() and "cleared 1 entries" in capsys.readouterr().out


@pytest.mark.parametrize("runtime", ["eager", "openvino"])
def test_mask_source_passes_its_score_threshold_down(runtime, thin_exports):
    """MASKS.SOURCE predictor runs the model at MASKS.SCORE_THRESH (the mask head sees only detections that will be
    used): its detections are exactly the model's at the config's 0.05, filtered at >= 0.3."""
    from types import SimpleNamespace

    from localstyle.masks.predictor import PredictorMasks

    opts = ["MODEL.RUNTIME", runtime, "DATASETS.CLASSES", "['person', 'ball']", "MASKS.CLASSES", "['person', 'ball']",
            "MASKS.SCORE_THRESH", "0.3"]
    source = PredictorMasks(thin_r50_cfg("thin_r50_fpn.pth", 0.05, *opts))
    assert 0.29 < source.predictor.cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST < 0.3
    full = DefaultPredictor(thin_r50_cfg("thin_r50_fpn.pth", 0.05, "MODEL.RUNTIME", runtime, "MODEL.EXPORTED",
                                         thin_exports.get(runtime, "")))
    records = [SimpleNamespace(path=n, image=cv2.imread(os.path.join(D2_FIXTURES, n), cv2.IMREAD_COLOR)[:, :, ::-1])
               for n in IMAGES]
    for record, det in zip(records, source(records)):
        ref = full(record.image[:, :, ::-1])["instances"]
        assert (ref.scores < 0.3).sum() > 0  # the 0.05 model has detections the mask source does not need
        ref = ref[ref.scores >= 0.3]
        assert len(det) == len(ref) > 0 and det.scores.min() >= 0.3
        np.testing.assert_array_equal(det.classes, ref.pred_classes.numpy())
        np.testing.assert_allclose(det.scores, ref.scores.numpy(), rtol=0, atol=1e-6)
        np.testing.assert_allclose(det.boxes, ref.pred_boxes.tensor.numpy(), rtol=0, atol=1e-4)
        inter = (det.masks & ref.pred_masks.numpy()).sum((1, 2))
        union = (det.masks | ref.pred_masks.numpy()).sum((1, 2))
        assert (inter / np.maximum(union, 1)).min() >= 0.9999
