"""Weights in and out: detectron2/Caffe2/torchvision checkpoints map onto our names; export round-trips."""
import importlib.util
import logging
import os
import pickle
import subprocess
import sys
import urllib.parse

import cv2
import numpy as np
import pytest
import torch
import torchvision

from localstyle.config import get_cfg
from localstyle.engine.predictor import DefaultPredictor
from localstyle.modeling import build_model
from localstyle.modeling.weight_loading import COCO_IDS, D2_URL_PREFIX, load_model_weights
from localstyle.utils.errors import LocalstyleError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "detectron2")
THIN_YAML = os.path.join(FIXTURES, "thin_r50_fpn.yaml")
THIN_PTH = os.path.join(FIXTURES, "thin_r50_fpn.pth")


def thin_cfg(weights=""):
    cfg = get_cfg()
    cfg.merge_from_file(THIN_YAML)
    cfg.MODEL.WEIGHTS = weights
    return cfg


def full_r50_cfg(num_classes=80):
    """Zoo-width R50-FPN Mask R-CNN in torchvision's layout (stride on the 3x3 conv, RGB ImageNet normalization)."""
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(REPO, "tests", "detectron2_configs", "COCO-InstanceSegmentation",
                                     "mask_rcnn_R_50_FPN_3x.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.RESNETS.STRIDE_IN_1X1", "False",
                         "MODEL.ROI_HEADS.NUM_CLASSES", str(num_classes), "INPUT.FORMAT", "RGB",
                         "MODEL.PIXEL_MEAN", "[123.675, 116.28, 103.53]", "MODEL.PIXEL_STD", "[58.395, 57.12, 57.375]"])
    return cfg


def randomize_bn(module, seed=0):
    """Give every (frozen) BN non-trivial statistics so that a swapped or dropped tensor changes the outputs."""
    g = torch.Generator().manual_seed(seed)
    for name, buf in module.named_buffers():
        if name.endswith("running_mean"):
            buf.copy_(torch.randn(buf.shape, generator=g) * 0.1)
        elif name.endswith("running_var"):
            buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
    for name, p in module.named_parameters():
        if ".bn" in name or "bn1" in name or "downsample.1" in name:
            p.data.copy_(torch.rand(p.shape, generator=g) + 0.5)


@pytest.fixture(scope="module")
def tv_resnet50_file(tmp_path_factory):
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None).eval()
    randomize_bn(tv)
    path = tmp_path_factory.mktemp("tv") / "resnet50.pth"
    torch.save(tv.state_dict(), path)
    return tv, str(path)


def test_torchvision_resnet50_backbone_matches_torchvision_forward(tv_resnet50_file):
    tv, path = tv_resnet50_file
    model = build_model(full_r50_cfg()).eval()
    report = load_model_weights(model, path)
    assert report["format"] == "torchvision_resnet" and not report["skipped"] and not report["unexpected"]
    assert not [k for k in report["missing"] if k.startswith("backbone.bottom_up.")]
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        ours = model.backbone.bottom_up(x)
        y = tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))
        for i, stage in enumerate(["res2", "res3", "res4", "res5"]):
            y = getattr(tv, f"layer{i + 1}")(y)
            torch.testing.assert_close(ours[stage], y, rtol=1e-4, atol=1e-4)
    # stride-in-1x1 (MSRA layout) cannot take torchvision weights: clear error naming the key
    with pytest.raises(LocalstyleError, match="STRIDE_IN_1X1 False"):
        load_model_weights(build_model(thin_cfg()), path)


def test_torchvision_weights_name_resolves_through_the_cache(tv_resnet50_file, tmp_path, monkeypatch):
    """``ResNet50_Weights.IMAGENET1K_V1`` -> torchvision's URL -> our cache (pre-filled here: no network)."""
    _, path = tv_resnet50_file
    monkeypatch.setenv("LOCALSTYLE_CACHE", str(tmp_path))
    url = urllib.parse.urlparse(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url)
    cached = tmp_path / "weights" / url.netloc / url.path.lstrip("/")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(open(path, "rb").read())
    model = build_model(full_r50_cfg())
    report = load_model_weights(model, "ResNet50_Weights.IMAGENET1K_V1")
    assert report["path"] == str(cached) and report["format"] == "torchvision_resnet"
    with pytest.raises(LocalstyleError, match="not a known torchvision weights name"):
        load_model_weights(model, "ResNet50_Weights.NOPE_V9")


def test_torchvision_maskrcnn_conversion(tmp_path, caplog):
    torch.manual_seed(0)
    tv = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
    randomize_bn(tv.backbone.body)
    for p in tv.roi_heads.parameters():  # make class rows distinguishable
        p.data.normal_(0, 0.05)
    path = str(tmp_path / "maskrcnn_tv.pth")
    torch.save(tv.state_dict(), path)
    model = build_model(full_r50_cfg(80)).eval()
    with caplog.at_level(logging.WARNING, logger="localstyle.modeling.weight_loading"):
        report = load_model_weights(model, path)
    assert report["format"] == "torchvision"
    assert not report["missing"] and not report["unexpected"] and not report["skipped"]
    assert "outputs will differ slightly" in caplog.text
    x = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        ours = model.backbone(x)
        theirs = tv.backbone(x)
        for i, level in enumerate(["p2", "p3", "p4", "p5"]):
            torch.testing.assert_close(ours[level], theirs[str(i)], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(ours["p6"], theirs["pool"], rtol=1e-4, atol=1e-4)
        feats = [ours[f] for f in ["p2", "p3"]]
        o_logits, o_deltas = model.proposal_generator.rpn_head(feats)
        t_logits, t_deltas = tv.rpn.head(feats)
        torch.testing.assert_close(o_logits, t_logits)
        torch.testing.assert_close(o_deltas, t_deltas)
        # box head + predictor: detectron2 rows = torchvision COCO ids, background last
        roi = torch.randn(5, 256, 7, 7)
        o_cls, o_box = model.roi_heads.box_predictor(model.roi_heads.box_head(roi))
        t_cls, t_box = tv.roi_heads.box_predictor(tv.roi_heads.box_head(roi))
        torch.testing.assert_close(o_cls[:, :80], t_cls[:, COCO_IDS])
        torch.testing.assert_close(o_cls[:, 80], t_cls[:, 0])
        torch.testing.assert_close(o_box.view(5, 80, 4), t_box.view(5, 91, 4)[:, COCO_IDS])
        mroi = torch.randn(3, 256, 14, 14)
        o_mask = model.roi_heads.mask_head(mroi)
        t_mask = tv.roi_heads.mask_predictor(tv.roi_heads.mask_head(mroi))
        torch.testing.assert_close(o_mask, t_mask[:, COCO_IDS], rtol=1e-4, atol=1e-5)
    # an 80-class checkpoint into a 1-class (person) model: class heads skipped, reported and logged
    person = build_model(full_r50_cfg(1))
    before = person.roi_heads.box_predictor.cls_score.weight.clone()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="localstyle.modeling.weight_loading"):
        report = load_model_weights(person, path)
    assert sorted(report["skipped"]) == sorted([
        "roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
        "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias",
        "roi_heads.mask_head.predictor.weight", "roi_heads.mask_head.predictor.bias"])
    assert "roi_heads.box_predictor.cls_score.weight" in caplog.text and "incompatible shapes" in caplog.text
    assert torch.equal(person.roi_heads.box_predictor.cls_score.weight, before)  # keeps its fresh init
    assert torch.equal(person.roi_heads.box_head.fc1.weight, model.roi_heads.box_head.fc1.weight)


def _to_c2_name(key):
    """detectron2 bottom-up name -> Caffe2/MSRA blob name (inverse of detectron2's conversion)."""
    key = key.replace("backbone.bottom_up.", "")
    if key.startswith("stem.conv1.norm."):
        return {"weight": "res_conv1_bn_s", "bias": "res_conv1_bn_b"}[key.rsplit(".", 1)[1]]
    if key == "stem.conv1.weight":
        return "conv1_w"
    stage, block, conv, *rest = key.split(".")
    branch = {"shortcut": "branch1", "conv1": "branch2a", "conv2": "branch2b", "conv3": "branch2c"}[conv]
    suffix = {("weight",): "w", ("norm", "weight"): "bn_s", ("norm", "bias"): "bn_b"}[tuple(rest)]
    return f"{stage}_{block}_{branch}_{suffix}"


def test_caffe2_msra_backbone_pkl(tmp_path):
    """A backbone in MSRA's R-50.pkl format (affine-only BN blobs, numpy) loads with identical features."""
    ref = build_model(thin_cfg()).eval()
    load_model_weights(ref, THIN_PTH)
    sd = ref.state_dict()
    blobs = {}
    for k, v in sd.items():
        if not k.startswith("backbone.bottom_up.") or k.endswith(("running_mean", "running_var")):
            continue
        if k.endswith("norm.weight"):  # fold the statistics into scale/shift like MSRA's files
            base = k[: -len("weight")]
            scale = v / torch.sqrt(sd[base + "running_var"] + 1e-5)
            blobs[_to_c2_name(k)] = scale.numpy()
            blobs[_to_c2_name(base + "bias")] = (sd[base + "bias"] - sd[base + "running_mean"] * scale).numpy()
        elif not k.endswith("norm.bias"):
            blobs[_to_c2_name(k)] = v.numpy()
    assert "res2_0_branch2a_w" in blobs and "res_conv1_bn_s" in blobs and "res5_2_branch2c_bn_b" in blobs
    blobs["fc1000_w"] = np.zeros((10, 512), np.float32)
    blobs["res2_0_branch2a_w_momentum"] = np.zeros(1, np.float32)
    path = tmp_path / "R-50.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f)
    model = build_model(thin_cfg()).eval()
    report = load_model_weights(model, str(path))
    assert report["format"] == "caffe2" and report["unexpected"] == ["fc1000.weight"]
    assert not [k for k in report["missing"] if k.startswith("backbone.bottom_up.") and "running" not in k]
    x = torch.randn(1, 3, 64, 96) * 50
    with torch.no_grad():
        a, b = ref.backbone.bottom_up(x), model.backbone.bottom_up(x)
    for stage in a:
        torch.testing.assert_close(a[stage], b[stage], rtol=1e-3, atol=1e-3)


def test_training_checkpoint_heuristic_names_and_errors(tmp_path):
    ref = build_model(thin_cfg())
    load_model_weights(ref, THIN_PTH)
    sd = ref.state_dict()
    # our trainer's checkpoint, saved from a DistributedDataParallel model ("module." prefix)
    ckpt = tmp_path / "model_0000099.pth"
    torch.save({"model": {"module." + k: v for k, v in sd.items()}, "optimizer": {}, "scheduler": {},
                "iteration": 99}, ckpt)
    model = build_model(thin_cfg())
    report = load_model_weights(model, thin_cfg(str(ckpt)))
    assert not (report["missing"] or report["unexpected"] or report["skipped"])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in sd.items())
    # a backbone with detectron2 names but no prefix and matching_heuristics (as detectron2's converted files)
    bare = {k[len("backbone.bottom_up."):]: v.numpy() for k, v in sd.items() if k.startswith("backbone.bottom_up.")}
    heur = tmp_path / "r50_d2.pkl"
    with open(heur, "wb") as f:
        pickle.dump({"model": bare, "__author__": "someone", "matching_heuristics": True}, f)
    model = build_model(thin_cfg())
    report = load_model_weights(model, str(heur))
    assert report["format"] == "detectron2_heuristics" and not report["unexpected"]
    assert not [k for k in report["missing"] if k.startswith("backbone.bottom_up.")]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items() if k.startswith("backbone.bottom_up."))
    # ... made from torchvision (ImageNetPretrained/torchvision/R-50.pkl): needs STRIDE_IN_1X1 False
    with open(heur, "wb") as f:
        pickle.dump({"model": bare, "__author__": "torchvision", "matching_heuristics": True}, f)
    with pytest.raises(LocalstyleError, match="STRIDE_IN_1X1 False"):
        load_model_weights(model, str(heur))
    with pytest.raises(LocalstyleError, match="file not found"):
        load_model_weights(model, str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(LocalstyleError, match="bad.pth: cannot read checkpoint"):
        load_model_weights(model, str(bad))


def test_urls_cache_and_offline_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALSTYLE_CACHE", str(tmp_path))
    # detectron2:// -> dl.fbaipublicfiles.com, read from the cache when already downloaded
    cached = tmp_path / "weights" / "dl.fbaipublicfiles.com" / "detectron2" / "fixture" / "thin_r50_fpn.pkl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(open(os.path.join(FIXTURES, "thin_r50_fpn.pkl"), "rb").read())
    assert D2_URL_PREFIX == "https://dl.fbaipublicfiles.com/detectron2/"
    report = load_model_weights(build_model(thin_cfg()), "detectron2://fixture/thin_r50_fpn.pkl")
    assert report["path"] == str(cached) and report["format"] == "detectron2" and not report["missing"]
    # unreachable URL: one clear line naming the URL and what to do
    url = "http://127.0.0.1:9/model_final_f10217.pkl"
    with pytest.raises(LocalstyleError) as err:
        load_model_weights(build_model(thin_cfg()), url)
    msg = str(err.value)
    assert url in msg and "local file path" in msg and "\n" not in msg


def test_export_detectron2_roundtrip(tmp_path, capsys):
    """tools/export_detectron2.py writes a detectron2 checkpoint + config that re-import to identical outputs."""
    out_dir = tmp_path / "d2"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export_detectron2.py"), "--config-file", THIN_YAML,
                           "MODEL.WEIGHTS", THIN_PTH, "--output", str(out_dir)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    data = torch.load(out_dir / "model_final.pth", weights_only=True)
    original = torch.load(THIN_PTH, weights_only=True)["model"]
    assert set(data) == {"model"} and list(data["model"]) == list(original)
    assert all(torch.equal(data["model"][k], original[k]) for k in original)
    text = (out_dir / "config.yaml").read_text()
    for key in ("STYLE:", "MASKS:", "STYLIZE:", "FEEDFORWARD:", "REGISTER_COCO"):
        assert key not in text
    cfg = get_cfg()
    cfg.merge_from_file(str(out_dir / "config.yaml"))
    assert cfg.MODEL.WEIGHTS == str(out_dir / "model_final.pth")
    image = cv2.imread(os.path.join(FIXTURES, "synthetic_val_0000.png"), cv2.IMREAD_COLOR)
    a = DefaultPredictor(cfg)(image)["instances"]
    b = DefaultPredictor(thin_cfg(THIN_PTH))(image)["instances"]
    assert len(a) == len(b) > 0
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor) and torch.equal(a.scores, b.scores)
    assert torch.equal(a.pred_classes, b.pred_classes) and torch.equal(a.pred_masks, b.pred_masks)
    spec = importlib.util.spec_from_file_location("export_detectron2", os.path.join(REPO, "tools", "export_detectron2.py"))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--config-file", THIN_YAML, "--output", str(tmp_path / "x")])
    assert exit_info.value.code == 2 and "MODEL.WEIGHTS is empty" in capsys.readouterr().err
