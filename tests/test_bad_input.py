"""Bad input and safety (issue 10): no code runs from a weights file, bad inputs are one clear line, nothing
stale or lost. Each test names the item of the issue it covers."""
import json
import logging
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from localstyle.config import get_cfg, load_config
from localstyle.data import DatasetCatalog, MetadataCatalog, register_coco_instances
from localstyle.data.build import build_detection_test_loader, build_detection_train_loader, get_detection_dataset_dicts
from localstyle.data.person_subset import prepare_person_subset
from localstyle.engine.checkpointer import Checkpointer
from localstyle.evaluation import COCOEvaluator
from localstyle.modeling.weight_loading import load_model_weights, read_checkpoint
from localstyle.structures import Boxes, Instances
from localstyle.utils.errors import LocalstyleError, cli_errors
from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import read_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "detectron2")
TINY = os.path.join(REPO, "tests", "data", "coco_dev", "coco_tiny_train2017")
TINY_JSON = os.path.join(TINY, "annotations", "instances_train2017.json")
sys.path.insert(0, os.path.join(REPO, "datasets"))
from prepare_coco_person import main as prepare_cli  # noqa: E402


class _Payload:
    """Unpickling this runs ``touch <path>``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


# ---------------------------------------------------------------------------------------- 1. safe loading
@pytest.mark.parametrize("ext", [".pkl", ".pth"])
def test_crafted_weights_file_is_refused_and_runs_nothing(tmp_path, ext):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{ext}"
    data = {"model": {"conv.weight": np.zeros((2, 2), np.float32)}, "__author__": _Payload(marker)}
    if ext == ".pkl":
        path.write_bytes(pickle.dumps(data, protocol=2))
    else:
        torch.save({"model": {"conv.weight": torch.zeros(2, 2)}, "extra": _Payload(marker)}, path)
    with pytest.raises(LocalstyleError) as e:
        load_model_weights(torch.nn.Linear(2, 2), str(path))
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "system" in msg and "MODEL.WEIGHTS_TRUSTED" in msg
    assert not marker.exists()
    # the explicit opt-in unpickles fully (and therefore runs the payload)
    read_checkpoint(str(path), trusted=True)
    assert marker.exists()


def test_zoo_format_pkl_fixture_still_loads_through_the_restricted_unpickler():
    sd_pkl, fmt = read_checkpoint(os.path.join(FIXTURES, "thin_r50_fpn.pkl"))
    sd_pth, _ = read_checkpoint(os.path.join(FIXTURES, "thin_r50_fpn.pth"))
    assert fmt == "detectron2" and len(sd_pkl) > 100 and set(sd_pkl) <= set(sd_pth)
    assert all(torch.equal(v, sd_pth[k].to(v.dtype)) for k, v in sd_pkl.items())


# ---------------------------------------------------------------------------------------- 2. DATASETS.CLASSES
@pytest.fixture(scope="module")
def raw_coco_subset(tmp_path_factory):
    """A raw COCO instances json (80 categories) over 4 images with people, registered as ``bad_raw_coco``."""
    with open(TINY_JSON) as f:
        data = json.load(f)
    with_person = {a["image_id"] for a in data["annotations"] if a["category_id"] == 1}
    data["images"] = [im for im in data["images"] if im["id"] in with_person][:4]
    ids = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    path = tmp_path_factory.mktemp("raw") / "instances.json"
    path.write_text(json.dumps(data))
    register_coco_instances("bad_raw_coco", {}, str(path), os.path.join(TINY, "train2017"))
    return data


def _loader_cfg(classes, num_classes=1):
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.TRAIN", "('bad_raw_coco',)", "DATASETS.CLASSES", repr(classes),
                         "MODEL.ROI_HEADS.NUM_CLASSES", str(num_classes), "INPUT.MIN_SIZE_TRAIN", "(64,)",
                         "INPUT.MAX_SIZE_TRAIN", "96", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0"])
    return cfg


def test_classes_key_keeps_only_listed_categories(raw_coco_subset):
    with pytest.raises(LocalstyleError, match=r"'bad_raw_coco' has 80 classes but MODEL.ROI_HEADS.NUM_CLASSES is 1"):
        build_detection_train_loader(_loader_cfg([]))
    with pytest.raises(LocalstyleError, match="not among its 80 categories"):
        build_detection_train_loader(_loader_cfg(["persn"]))
    batch = next(iter(build_detection_train_loader(_loader_cfg(["person"]))))
    assert all(set(d["instances"].gt_classes.tolist()) == {0} for d in batch)
    dicts = get_detection_dataset_dicts("bad_raw_coco", False, ["person", "dog"], 2)
    persons = sum(a["category_id"] == 1 for a in raw_coco_subset["annotations"])
    assert sum(a["category_id"] == 0 for d in dicts for a in d["annotations"]) == persons
    assert {a["category_id"] for d in dicts for a in d["annotations"]} <= {0, 1}


def test_evaluation_with_classes_keeps_coco_category_ids(raw_coco_subset, tmp_path):
    dicts = get_detection_dataset_dicts("bad_raw_coco", False, ["person"], 1)
    evaluator = COCOEvaluator("bad_raw_coco", str(tmp_path), distributed=False, classes=["person"])
    for d in dicts:
        anns = [a for a in d["annotations"] if not a["iscrowd"]]
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        inst = Instances((d["height"], d["width"]), pred_boxes=Boxes(boxes), scores=torch.ones(len(anns)),
                         pred_classes=torch.tensor([a["category_id"] for a in anns], dtype=torch.int64))
        evaluator.process([{"image_id": d["image_id"]}], [{"instances": inst}])
    results = evaluator.evaluate()
    written = json.loads((tmp_path / "coco_instances_results.json").read_text())
    assert written and {r["category_id"] for r in written} == {1}
    assert results["bbox"]["AP"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------- 3. degenerate boxes
def test_degenerate_boxes_are_dropped_and_reported_once(tmp_path, caplog):
    with open(TINY_JSON) as f:
        data = json.load(f)
    data["images"] = data["images"][:2]
    ids = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    n = len(data["annotations"])
    data["annotations"][0]["bbox"][2] = 0.0
    data["annotations"][1]["bbox"][3] = -3.0
    (tmp_path / "a.json").write_text(json.dumps(data))
    register_coco_instances("bad_degenerate", {}, str(tmp_path / "a.json"), os.path.join(TINY, "train2017"))
    with caplog.at_level(logging.WARNING):
        dicts = DatasetCatalog.get("bad_degenerate")
        DatasetCatalog.get("bad_degenerate")
    assert sum(len(d["annotations"]) for d in dicts) == n - 2
    assert all(a["bbox"][2] > 0 and a["bbox"][3] > 0 for d in dicts for a in d["annotations"])
    lines = [r.getMessage() for r in caplog.records if "bad_degenerate" in r.getMessage()]
    assert len(lines) == 1 and "2 (box with zero or negative width or height)" in lines[0]
    assert MetadataCatalog.get("bad_degenerate").dropped_annotations == {
        "box with zero or negative width or height": 2}


# ---------------------------------------------------------------------------------------- 4. 16-bit images
def test_16bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(32 * 64, dtype=np.uint32).reshape(32, 64) * 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    img = read_image(tmp_path / "g16.png")
    assert img.dtype == np.uint8 and img.shape == (32, 64, 3)
    assert np.abs(img[..., 0].astype(int) - np.rint(ramp / 257.0)).max() <= 1
    assert img[0, 0, 0] == 0 and img.max() >= 250 and (img[..., 0] == img[..., 2]).all()
    # RGBA: alpha dropped, the colours under it kept (as the docstring says)
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert (read_image(tmp_path / "a.png")[..., 0] == 200).all()


# ---------------------------------------------------------------------------------------- 7. (training) few tensors
def test_training_refuses_weights_that_fit_less_than_half_of_the_model(tmp_path, caplog):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    path = tmp_path / "other.pth"
    torch.save({"model": {"0.weight": torch.zeros(4, 3), "9.bias": torch.zeros(2)}}, path)
    with pytest.raises(LocalstyleError, match="only 1 of the model's 4 tensors .* MODEL.WEIGHTS_ALLOW_MISSING True"):
        Checkpointer(model, str(tmp_path)).resume_or_load(str(path), resume=False)
    with caplog.at_level(logging.WARNING):  # issue 22: the explicit opt-in keeps the old warning
        Checkpointer(model, str(tmp_path)).resume_or_load(str(path), resume=False, allow_missing=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(path) in r.getMessage()]
    assert any("only 1 of the model's 4 tensors" in w for w in warnings)


# ---------------------------------------------------------------------------------------- 8. other tracebacks
def test_text_file_as_weights_is_one_line(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are my notes\nnot a checkpoint\n")
    for load in (lambda: load_model_weights(torch.nn.Linear(2, 2), str(path)),
                 lambda: Checkpointer(torch.nn.Linear(2, 2), str(tmp_path)).load(str(path))):
        with pytest.raises(LocalstyleError, match="cannot read checkpoint") as e:
            load()
        assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_yaml_syntax_error_keeps_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("MODEL:\n  DEVICE: cpu\n   WEIGHTS: x\n")
    with pytest.raises(LocalstyleError, match=r"bad.yaml:3:11: invalid YAML: mapping values are not allowed"):
        load_config(str(path))


@pytest.mark.parametrize("content, message", [
    ([{"images": []}], "the top level is a list"),
    ({"images": [], "annotations": [{"id": 7, "image_id": 1}], "categories": [{"id": 1, "name": "person"}]},
     "annotation 7 has no category_id"),
    ({"images": {}, "annotations": [], "categories": []}, "'images' must be a list"),
])
def test_prepare_coco_person_wrong_json_shape_is_one_line(tmp_path, capsys, content, message):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "train2017").mkdir()
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(content))
    proc_args = ["--coco-root", str(tmp_path), "--output", str(tmp_path / "out"), "--splits", "train2017"]
    with pytest.raises(SystemExit) as e:
        prepare_cli(proc_args)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and message in err and "instances_train2017.json" in err


def test_error_in_a_dataloader_worker_is_the_one_line(tmp_path, capsys):
    entry = {"file_name": str(tmp_path / "gone.jpg"), "height": 8, "width": 8, "image_id": 1,
             "annotations": []}
    DatasetCatalog.register("bad_worker_missing_image", lambda: [entry])
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.TEST", "('bad_worker_missing_image',)", "DATALOADER.NUM_WORKERS", "1",
                         "MODEL.ROI_HEADS.NUM_CLASSES", "1"])

    @cli_errors
    def main():
        next(iter(build_detection_test_loader(cfg, "bad_worker_missing_image")))

    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'gone.jpg'}: image file not found"


# ---------------------------------------------------------------------------------------- 9. interrupted linking
def test_interrupted_link_images_is_refused_then_completed_by_a_rerun(tmp_path, monkeypatch):
    root = os.path.join(REPO, "tests", "data", "coco_dev", "lizhogn_tiny_coco_train2017")
    out = tmp_path / "coco_person"
    prepare_person_subset(root, out, ["train2017"], link_images="symlink")
    # what a killed run leaves: the json, part of the links, temp files, no completion marker
    images = out / "train2017"
    (images / ".complete").unlink(missing_ok=True)
    names = sorted(os.listdir(images))
    for name in names[len(names) // 2:]:
        (images / name).unlink()
    (images / f".{names[0]}.x1y2.tmp").write_bytes(b"partial")
    os.symlink(os.path.join(root, "train2017", names[0]), images / f"{names[1]}.tmp4242")
    monkeypatch.setenv("LOCALSTYLE_DATASETS", str(tmp_path))
    with pytest.raises(LocalstyleError, match="incomplete image folder"):
        DatasetCatalog.get("coco_2017_train_person")
    report = prepare_person_subset(root, out, ["train2017"], link_images="symlink")["splits"]["train2017"]
    dicts = DatasetCatalog.get("coco_2017_train_person")
    assert len(dicts) == report["kept_images"] and all(os.path.isfile(d["file_name"]) for d in dicts)
    assert not [n for n in os.listdir(images) if "tmp" in n]


# ---------------------------------------------------------------------------------------- 10. file permissions
def test_atomic_writes_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "a.json", {"a": 1})
        with open(tmp_path / "direct.json", "w") as f:
            f.write("{}")
        assert os.stat(tmp_path / "a.json").st_mode & 0o777 == os.stat(tmp_path / "direct.json").st_mode & 0o777
        assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "a.json", 0o640)  # rewriting keeps a file's own mode, as open(..., "w") does
        atomic_write_json(tmp_path / "a.json", {"a": 2})
        assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


# ---------------------------------------------------------------------------------------- 11. names in paths
def test_dataset_name_cannot_write_outside_output_dir(tmp_path):
    from localstyle.data.synthetic import make_synthetic
    from localstyle.engine.trainer import Trainer
    from localstyle.modeling import build_model

    jsons = make_synthetic(str(tmp_path / "syn"), 1, 1, 64, seed=0)
    names = ["bad_safe_val", "../../escaped"]
    for name in names:
        register_coco_instances(name, {}, jsons["val"], str(tmp_path / "syn" / "val"))
    out = tmp_path / "a" / "b" / "run"
    cfg = load_config(os.path.join(REPO, "configs", "tiny", "mask_rcnn_R_50_FPN_unittest.yaml"),
                      ["MODEL.DEVICE", "cpu", "DATASETS.TEST", repr(tuple(names)), "OUTPUT_DIR", str(out)])
    Trainer.test(cfg, build_model(cfg))
    assert os.listdir(tmp_path / "a" / "b") == ["run"]  # nothing written next to OUTPUT_DIR
    assert sorted(os.listdir(out / "inference")) == ["_._.._escaped", "bad_safe_val"]


# ---------------------------------------------------------------------------------------- 5-7. stylize_net.py
STYLIZE_CONFIG = os.path.join(REPO, "configs", "stylize", "gatys_starry_night_annotations.yaml")
PHOTO = os.path.join(REPO, "assets", "photos", "coco_train2017_000000360452.jpg")
STYLE_FAST = ["MODEL.DEVICE", "cpu", "STYLE.SIZE", "48", "STYLE.GATYS.STEPS", "2", "STYLE.GATYS.SCALES", "[1.0]",
              "STYLIZE.NUM_WORKERS", "1", "STYLIZE.BATCH_SIZE", "2", "STYLIZE.STRIP", "False", "MASKS.TOP_K", "1",
              "STYLE.IMAGE", os.path.join(REPO, "assets", "styles", "vangogh_starry_night_1889.jpg"),
              "DATASETS.REGISTER_COCO", repr([["localstyle_photos",
                                               os.path.join(REPO, "assets", "photos", "annotations",
                                                            "instances_photos.json"),
                                               os.path.join(REPO, "assets", "photos")]])]


def _stylize(inputs, out, *extra, config=STYLIZE_CONFIG):
    import stylize_net

    return stylize_net.main(["--config-file", config, "--input", str(inputs), "--output", str(out),
                             *STYLE_FAST, *extra])


def _png_header_only(path, width, height):
    """A PNG whose header claims ``width`` x ``height`` pixels (PIL refuses it as a decompression bomb)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) +
                     chunk(b"IEND", b""))


@pytest.fixture()
def one_photo(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / os.path.basename(PHOTO)).write_bytes(open(PHOTO, "rb").read())
    return d


def test_stylize_skips_a_decompression_bomb_and_does_the_rest(one_photo, tmp_path, capsys):
    _png_header_only(one_photo / "aaa_bomb.png", 30000, 30000)
    assert _stylize(one_photo, tmp_path / "out") == 0
    text = capsys.readouterr()
    assert "1 done, 0 skipped (already complete), 1 failed" in text.out
    lines = (text.out + text.err).splitlines()
    assert any("aaa_bomb.png" in line and "decompression" in line.lower() for line in lines)
    assert "Traceback" not in text.err


@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_stylize_output_problems_are_one_line_before_any_work(one_photo, tmp_path, capsys, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker if where == "file" else blocker / "out"
    with pytest.raises(SystemExit) as e:
        _stylize(one_photo, out)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0 and err.startswith(f"error: {out}") and "--output" in err
    assert blocker.read_text() == "x"


def test_stylize_rerun_with_other_settings_redoes_the_images(one_photo, tmp_path, capsys):
    out = tmp_path / "out"
    stem = os.path.splitext(os.path.basename(PHOTO))[0]
    assert _stylize(one_photo, out) == 0
    first = (out / f"{stem}.png").read_bytes()
    capsys.readouterr()
    other = os.path.join(REPO, "assets", "styles", "munch_the_scream_1893.jpg")
    assert _stylize(one_photo, out, "STYLE.IMAGE", other) == 0
    assert "1 done (1 redone: settings or files changed), 0 skipped" in capsys.readouterr().out
    assert (out / f"{stem}.png").read_bytes() != first
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][stem]["settings"]["STYLE.IMAGE"] == other
    assert _stylize(one_photo, out, "STYLE.IMAGE", other) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("weights", ["", "unrelated.pth"])
def test_stylize_predictor_without_matching_weights_is_an_error(one_photo, tmp_path, capsys, weights):
    if weights:
        weights = str(tmp_path / weights)
        torch.save({"model": {"head.weight": torch.zeros(3, 3)}}, weights)
    tiny = os.path.join(REPO, "configs", "tiny", "mask_rcnn_R_50_FPN_unittest.yaml")
    with pytest.raises(SystemExit) as e:
        _stylize(one_photo, tmp_path / "out", "MODEL.WEIGHTS", weights, "MASKS.SOURCE", "predictor",
                 config=tiny)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0 and "MODEL.WEIGHTS" in err and "MASKS.SOURCE predictor" in err
    assert not (tmp_path / "out" / "manifest.json").exists()
