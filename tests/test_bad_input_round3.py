"""Bad input, round 3 (issue 22): the cases that still ended in a traceback or a silently wrong result. Each test
names the item of the issue it covers."""
import contextlib
import errno
import json
import logging
import os
import resource
import shutil
import sys
import time

import numpy as np
import pytest
import torch

from engine_helpers import D2_FIXTURES, UNITTEST_CONFIG, load_script
from localstyle.config import get_cfg, load_config
from localstyle.data.build import get_detection_dataset_dicts
from localstyle.data.coco import load_coco_json
from localstyle.engine.checkpointer import Checkpointer
from localstyle.engine.defaults import default_argument_parser
from localstyle.engine.hooks import MetricsWriter, read_metrics
from localstyle.modeling import build_model
from localstyle.stylize.outputs import settings_of
from localstyle.stylize.plan import working_shape
from localstyle.utils.digests import file_sha256
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import WriteError
from localstyle.utils.image_io import read_image, write_image
from test_bad_input import _stylize, one_photo  # noqa: F401 (a fixture)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "tests", "data", "coco_dev", "coco_tiny_train2017")
TINY_JSON = os.path.join(TINY, "annotations", "instances_train2017.json")
sys.path.insert(0, os.path.join(REPO, "datasets"))
from prepare_coco_person import main as prepare_cli  # noqa: E402

STYLIZE_CONFIG = os.path.join(REPO, "configs", "stylize", "gatys_starry_night_annotations.yaml")


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


TORN = "".join(json.dumps({"iteration": i, "total_loss": 1.0 / (i + 1), "lr": 0.01, "time": 0.5}) + "\n"
               for i in range(4)) + '{"iteration": 4, "total_lo'


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


# ---------------------------------------------------------------------------------------- 6. unchecked values
@pytest.mark.parametrize("key, value, allowed", [
    ("STYLE.GATYS.STEPS", "0", ">= 1"),
    ("MASKS.DILATE", "100000", "in [-256, 256]"),
    ("SOLVER.IMS_PER_BATCH", "0", ">= 1"),
    ("STYLE.STRENGTH", "1.5", "in [0, 1]"),
    ("STYLE.STRENGTH", "-0.1", "in [0, 1]"),
    ("STYLE.GATYS.STYLE_WEIGHT", "-1.0", ">= 0"),
])
def test_out_of_range_values_are_one_line_at_load(key, value, allowed):
    with pytest.raises(LocalstyleError) as e:
        load_config(STYLIZE_CONFIG, [key, value])
    msg = str(e.value)
    assert "\n" not in msg and f"{key} is {value}" in msg.replace("'", "") and allowed in msg and "yaml" in msg
    load_config(STYLIZE_CONFIG, [key, "1"])  # in range: fine


def test_coco_json_whose_top_level_is_a_list(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"images": []}]))
    with pytest.raises(LocalstyleError) as e:
        load_coco_json(str(path), str(tmp_path))
    assert str(e.value).startswith(f"{path}: ") and "top level" in str(e.value) and "\n" not in str(e.value)


def test_num_gpus_below_one_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        default_argument_parser().parse_args(["--num-gpus", "-1"])
    assert e.value.code == 2 and "--num-gpus: must be at least 1, got -1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- 9. class-count advice
def test_classes_on_a_two_class_config_advise_num_classes():
    """coco_tiny_train2017 (tests/conftest.py): a raw COCO json, 80 categories."""
    cfg = load_config(os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), ["DATASETS.CLASSES", "['person']"])
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 2  # set by the config: kept
    with pytest.raises(LocalstyleError) as e:
        get_detection_dataset_dicts("coco_tiny_train2017", False, cfg.DATASETS.CLASSES, cfg.MODEL.ROI_HEADS.NUM_CLASSES)
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("set MODEL.ROI_HEADS.NUM_CLASSES 1") and "DATASETS.CLASSES selects 1" in msg


def test_classes_with_default_num_classes_derive_it(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = load_config(None, ["DATASETS.CLASSES", "['person', 'dog']"])
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 2
    assert any("MODEL.ROI_HEADS.NUM_CLASSES 2" in r.getMessage() and "DATASETS.CLASSES" in r.getMessage()
               for r in caplog.records)
    classes, num_classes = cfg.DATASETS.CLASSES, cfg.MODEL.ROI_HEADS.NUM_CLASSES
    dicts = get_detection_dataset_dicts("coco_tiny_train2017", False, classes, num_classes)
    assert {a["category_id"] for d in dicts for a in d["annotations"]} <= {0, 1}


# ---------------------------------------------------------------------------------------- 10. no person at all
def test_prepare_coco_person_without_any_person_fails_clearly(tmp_path, capsys):
    with open(TINY_JSON) as f:
        data = json.load(f)
    data["annotations"] = [a for a in data["annotations"] if a["category_id"] != 1]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "train2017").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(data))
    with pytest.raises(SystemExit) as e:
        prepare_cli(["--coco-root", str(tmp_path), "--output", str(tmp_path / "out"), "--splits", "train2017"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and "instances_train2017.json" in err
    assert "no image with a person annotation" in err and f"{len(data['annotations'])} annotations read" in err
    assert not (tmp_path / "out" / "annotations" / "person_train2017.json").exists()


# ---------------------------------------------------------------------------------------- 5. output locations
@contextlib.contextmanager
def file_size_limit(nbytes):
    """Files written by this process may not grow beyond ``nbytes``: the kernel refuses the write (EFBIG), as a
    full disk refuses it (ENOSPC). Python ignores SIGXFSZ, so the write raises OSError."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _unwritable(tmp_path, kind):
    """An OUTPUT_DIR that is a file, or that cannot be created (read-only; root may write anywhere but /sys)."""
    if kind == "file":
        (tmp_path / "a_file").write_text("x")
        return tmp_path / "a_file"
    if os.geteuid() == 0:
        return "/sys/localstyle_test_output"
    (tmp_path / "ro").mkdir(mode=0o555)
    return tmp_path / "ro" / "run"


@pytest.mark.parametrize("kind", ["file", "read_only"])
def test_train_net_output_dir_that_cannot_be_written(tmp_path, capsys, kind):
    out = _unwritable(tmp_path, kind)
    with pytest.raises(SystemExit) as e:
        load_script("train_net.py").cli(["--config-file", UNITTEST_CONFIG, "OUTPUT_DIR", str(out)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and err.startswith(f"error: {out}: OUTPUT_DIR")


def test_ap_report_output_naming_a_file(tmp_path, capsys):
    run = _run_dir(tmp_path / "run", TORN)
    (tmp_path / "report.html").write_text("keep me")
    with pytest.raises(SystemExit) as e:
        load_script("tools", "ap_report.py").main([str(run), "--output", str(tmp_path / "report.html")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and "--output must be a folder, but it is a file" in err
    assert (tmp_path / "report.html").read_text() == "keep me"


def test_full_disk_at_a_checkpoint_keeps_the_last_one(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3), torch.nn.Conv2d(64, 64, 3))  # ~150 kB of weights
    ckpt = Checkpointer(model, str(tmp_path))
    ckpt.save("model_0000009", iteration=9)
    before = (tmp_path / "model_0000009.pth").read_bytes()
    with file_size_limit(20_000), pytest.raises(WriteError) as e:
        ckpt.save("model_final", iteration=19)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path / 'model_final.pth'}: cannot write (File too large)")
    assert sorted(os.listdir(tmp_path)) == ["last_checkpoint", "model_0000009.pth"]  # no temp file left
    assert (tmp_path / "model_0000009.pth").read_bytes() == before
    assert ckpt.get_checkpoint_file() == str(tmp_path / "model_0000009.pth")
    assert Checkpointer(model, str(tmp_path)).load(ckpt.get_checkpoint_file())["iteration"] == 9


def test_full_disk_while_stylizing_stops_with_one_line_and_keeps_outputs(one_photo, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert _stylize(one_photo, out) == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    capsys.readouterr()

    def no_space(fd):  # where a delayed-allocation file system reports a full disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(SystemExit) as e:
        _stylize(one_photo, out, "STYLE.STRENGTH", "0.5")  # other settings: the image is redone
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert e.value.code == 2 and len(err) == 1 and "No space left on device" in err[0] and str(out) in err[0]
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


# ---------------------------------------------------------------------------------------- 4. random or half-random
THIN_YAML, THIN_PTH = os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"), os.path.join(D2_FIXTURES, "thin_r50_fpn.pth")


@pytest.mark.parametrize("weights, words", [
    ("", "MODEL.WEIGHTS is empty, so the model is random; --eval-only needs weights trained for this config"),
    (THIN_PTH, "only 307 of the model's 562 tensors match it (first missing: backbone.bottom_up.res4.6."),
])
def test_eval_only_refuses_a_random_or_half_random_model(tmp_path, capsys, weights, words):
    """No weights, or R50 weights in an R101 config (255 tensors missing): one line before any evaluation."""
    with pytest.raises(SystemExit) as e:
        load_script("train_net.py").cli(["--config-file", THIN_YAML, "--eval-only", "MODEL.DEVICE", "cpu",
                                         "MODEL.RESNETS.DEPTH", "101", "DATASETS.TEST", "('never_loaded',)",
                                         "MODEL.WEIGHTS", weights, "OUTPUT_DIR", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and words in err and "MODEL.WEIGHTS_ALLOW_MISSING True" in err
    assert not (tmp_path / "inference").exists()


def test_training_from_weights_of_another_depth_is_refused_unless_allowed(tmp_path):
    model = build_model(load_config(THIN_YAML, ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", "101"]))
    with pytest.raises(LocalstyleError, match=r"first missing: backbone.bottom_up.res4.6.*another depth"):
        Checkpointer(model, str(tmp_path)).resume_or_load(THIN_PTH, resume=False)
    ckpt = Checkpointer(model, str(tmp_path))
    assert ckpt.resume_or_load(THIN_PTH, resume=False, allow_missing=True) == 0
    assert len(ckpt.load_report["missing"]) == 255 and ckpt.load_report["tensors"] == 562


# ---------------------------------------------------------------------------------------- 1. stale outputs
def test_rerun_notices_replaced_style_and_input_files(one_photo, tmp_path, capsys):
    """A style image or an input replaced under the same name is redone; a file only touched is not (the digest,
    taken when size or mtime changed, is the same)."""
    out, style = tmp_path / "out", tmp_path / "style.jpg"
    shutil.copy(os.path.join(REPO, "assets", "styles", "vangogh_starry_night_1889.jpg"), style)
    photo = one_photo / os.listdir(one_photo)[0]
    stem = photo.stem

    def run():
        assert _stylize(one_photo, out, "STYLE.IMAGE", str(style)) == 0
        return capsys.readouterr().out

    assert "1 done, 0 skipped" in run()
    first = (out / f"{stem}.png").read_bytes()
    shutil.copy(os.path.join(REPO, "assets", "styles", "munch_the_scream_1893.jpg"), style)  # same path
    assert "1 done (1 redone: settings or files changed), 0 skipped" in run()
    assert (out / f"{stem}.png").read_bytes() != first
    for path in (style, photo):
        os.utime(path, ns=(time.time_ns() + 10**9,) * 2)  # touched, same content
    assert "0 done, 1 skipped (already complete)" in run()
    image = read_image(str(photo))
    write_image(str(photo), np.clip(image.astype(np.int16) + 40, 0, 255).astype(np.uint8))  # same name
    assert "1 done (1 redone: settings or files changed), 0 skipped" in run()
    entry = json.loads((out / "manifest.json").read_text())["images"][stem]
    assert entry["input_sha256"] == file_sha256(str(photo)) and entry["settings"]["files"][str(style)]


def test_settings_cover_the_keys_that_change_the_masks():
    def settings(*opts):
        return settings_of(load_config(STYLIZE_CONFIG, ["MASKS.SOURCE", "predictor", *opts]))

    base = settings()
    for key, value in [("INPUT.MIN_SIZE_TEST", "640"), ("MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.3"),
                       ("MODEL.RESNETS.DEPTH", "101"), ("TEST.DETECTIONS_PER_IMAGE", "10"),
                       ("MASKS.DILATE", "3")]:
        assert settings(key, value) != base, key
    assert settings("MODEL.DEVICE", "cuda") == base  # where the model runs does not change the masks
    assert "MODEL+INPUT" not in settings_of(load_config(STYLIZE_CONFIG))  # annotation masks: no model involved


# ---------------------------------------------------------------------------------------- 7. big photos
@pytest.mark.parametrize("shape, cap, expected", [
    ((4000, 6000), 2048, (1365, 2048)), ((6000, 4000), 2048, (2048, 1365)), ((8000, 8000), 2048, (2048, 2048)),
    ((1000, 1500), 2048, (1000, 1500)), ((4000, 6000), 0, (4000, 6000)), ((30, 60000), 2048, (1, 2048)),
])
def test_working_shape_caps_the_longest_side(shape, cap, expected):
    assert working_shape(*shape, cap) == expected


def test_capped_working_resolution_composites_at_full_size(one_photo, tmp_path):
    """STYLIZE.MAX_SIZE below the photo's size: masks and crops at the working size, every output at full size,
    pixels outside the (upscaled) alpha exactly the input's, and the same people as at full resolution."""
    photo = one_photo / os.listdir(one_photo)[0]
    image = read_image(str(photo))
    masks = {}
    for cap in (0, 200):
        out = tmp_path / f"out_{cap}"
        assert _stylize(one_photo, out, "STYLIZE.MAX_SIZE", str(cap), "STYLIZE.STRIP", "True") == 0
        result, mask = read_image(str(out / f"{photo.stem}.png")), read_image(str(out / f"{photo.stem}_mask.png"))
        assert result.shape == image.shape and mask.shape == image.shape
        assert np.array_equal(result[mask[..., 0] == 0], image[mask[..., 0] == 0])
        assert (out / f"{photo.stem}_strip.jpg").is_file()
        entry = json.loads((out / "manifest.json").read_text())["images"][photo.stem]
        assert all(0 <= v <= max(image.shape) for r in entry["regions"] for v in r["box"])
        masks[cap] = mask[..., 0] > 127
    iou = (masks[0] & masks[200]).sum() / (masks[0] | masks[200]).sum()
    assert iou > 0.9
