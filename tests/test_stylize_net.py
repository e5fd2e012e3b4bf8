"""stylize_net.py end to end: shipped photos, their COCO annotation masks, a tiny Gatys run."""
import json
import os
import shutil

import numpy as np
import pytest

import stylize_net
from localstyle.utils.image_io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stylize", "gatys_starry_night_annotations.yaml")
PHOTOS = ["coco_train2017_000000360452.jpg", "coco_train2017_000000352257.jpg"]
FAST = ["MODEL.DEVICE", "cpu", "STYLE.SIZE", "64", "STYLE.GATYS.STEPS", "3", "STYLE.GATYS.SCALES", "[1.0]",
        "STYLIZE.NUM_WORKERS", "1", "STYLIZE.BATCH_SIZE", "2",
        "STYLE.IMAGE", os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg"),
        "DATASETS.REGISTER_COCO", repr([["localstyle_photos",
                                         os.path.join(ROOT, "assets", "photos", "annotations", "instances_photos.json"),
                                         os.path.join(ROOT, "assets", "photos")]])]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def inputs(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for name in PHOTOS:
        shutil.copy(os.path.join(ROOT, "assets", "photos", name), d / name)
    return d


def _run(inputs, out, *extra, overwrite=False):
    argv = ["--config-file", CONFIG, "--input", str(inputs), "--output", str(out)]
    return stylize_net.main(argv + (["--overwrite"] if overwrite else []) + FAST + list(extra))


def test_end_to_end_outputs_and_exact_background(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(inputs, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["images"]) == sorted(os.path.splitext(p)[0] for p in PHOTOS)
    for name in PHOTOS:
        stem = os.path.splitext(name)[0]
        photo = read_image(inputs / name)
        composite = read_image(out / f"{stem}.png")
        mask = np.asarray(read_image(out / f"{stem}_mask.png"))[..., 0]
        assert (out / f"{stem}_strip.jpg").is_file() and composite.shape == photo.shape
        assert np.array_equal(composite[mask == 0], photo[mask == 0])  # untouched outside the alpha
        assert (mask == 255).sum() > 1000 and not np.array_equal(composite[mask == 255], photo[mask == 255])
        entry = manifest["images"][stem]
        assert entry["instances"] and all(i["class"] == "person" for i in entry["instances"])
        assert {"box", "score", "area", "style"} <= set(entry["instances"][0])
        assert entry["settings"]["MASKS.SOURCE"] == "annotations" and entry["timings"]["stylize_s"] > 0
        assert entry["regions"] and entry["styles"]
    assert "2 done, 0 skipped" in capsys.readouterr().out

    # resumable: a second run skips both; --overwrite redoes them
    assert _run(inputs, out) == 0
    assert "0 done, 2 skipped" in capsys.readouterr().out
    assert _run(inputs, out, "MASKS.INVERT", "True", overwrite=True) == 0
    assert "2 done, 0 skipped" in capsys.readouterr().out
    stem = os.path.splitext(PHOTOS[0])[0]
    mask = np.asarray(read_image(out / f"{stem}_mask.png"))[..., 0]
    photo, composite = read_image(inputs / PHOTOS[0]), read_image(out / f"{stem}.png")
    assert mask[0, 0] == 255 and np.array_equal(composite[mask == 0], photo[mask == 0])  # people kept


def test_corrupt_image_is_reported_and_skipped(inputs, tmp_path, capsys):
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "out"
    assert _run(inputs, out, "STYLIZE.STRIP", "False", "MASKS.TOP_K", "1") == 0
    text = capsys.readouterr().out
    captured = text + capsys.readouterr().err
    assert "2 done, 0 skipped (already complete), 1 failed" in captured
    manifest = json.loads((out / "manifest.json").read_text())
    assert "broken" not in manifest["images"] and all(len(e["instances"]) == 1 for e in manifest["images"].values())
    assert not (out / "coco_train2017_000000360452_strip.jpg").exists()


def test_predictor_source_runs_the_model_batch(inputs, tmp_path, capsys):
    """MASKS.SOURCE predictor: the tiny Mask R-CNN (a freshly initialized checkpoint of it: the predictor needs
    weights that fit its config) runs on each batch; every output is written."""
    import torch

    from localstyle.config import load_config
    from localstyle.modeling import build_model

    tiny = os.path.join(ROOT, "configs", "tiny", "mask_rcnn_R_50_FPN_unittest.yaml")
    weights = str(tmp_path / "tiny.pth")
    torch.save({"model": build_model(load_config(tiny, ["MODEL.DEVICE", "cpu"])).state_dict()}, weights)
    out = tmp_path / "out"
    argv = ["--config-file", tiny, "--input", str(inputs), "--output", str(out), "MODEL.WEIGHTS", weights,
            "MASKS.SOURCE", "predictor", "MASKS.SCORE_THRESH", "0.0", "MASKS.TOP_K", "2"] + FAST[:-2]
    assert stylize_net.main(argv) == 0
    assert "2 done" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    for entry in manifest["images"].values():
        assert entry["settings"]["MASKS.SOURCE"] == "predictor" and len(entry["instances"]) <= 2
        assert all(0.0 <= i["score"] <= 1.0 and i["class"] in ("person", "ball") for i in entry["instances"])


def test_onnx_style_with_annotation_masks_runs_without_torch(inputs, tmp_path):
    """The fast path (an ONNX style method, annotation masks) never imports torch or onnx (about 1.5 s of start-up
    here, more than the whole run of 20 photos): the second run opens the relaxed style model from the cache, and
    its outputs equal the first run's, which relaxed the model with onnx."""
    import subprocess
    import sys

    config = os.path.join(ROOT, "configs", "stylize", "arbitrary_starry_night.yaml")
    code = ("import sys, stylize_net\n"
            "rc = stylize_net.main(sys.argv[1:])\n"
            "print(rc, [m for m in ('torch', 'torchvision', 'onnx') if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": ROOT, "LOCALSTYLE_CACHE": str(tmp_path / "cache")}
    outs = []
    for run in ("first", "second"):
        out = tmp_path / run
        argv = ["--config-file", config, "--input", str(inputs), "--output", str(out), "MODEL.DEVICE", "cpu",
                "STYLE.SIZE", "128", "STYLIZE.STRIP", "False"]
        proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append((out, proc.stdout.strip().splitlines()[-1]))
    assert outs[0][1] == "0 ['onnx']" and outs[1][1] == "0 []"
    for name in PHOTOS:
        stem = os.path.splitext(name)[0]
        assert np.array_equal(read_image(str(outs[0][0] / f"{stem}.png")), read_image(str(outs[1][0] / f"{stem}.png")))
