"""DeepLabv3 semantic segmentation: metrics against a direct computation, COCO annotations -> class maps, training
with exact resume and --eval-only through train_net.py, torchvision weights loaded by name."""
import json
import math
import os
import shutil

import numpy as np
import pytest
import torch

from engine_helpers import REPO, make_tiny_synthetic
from localstyle.config import load_config
from localstyle.data import DatasetCatalog, register_datasets_from_cfg
from localstyle.data.sem_seg import annotations_to_sem_seg
from localstyle.evaluation import SemSegEvaluator, SemSegMetrics
from localstyle.modeling import build_model
from localstyle.modeling.weight_loading import load_model_weights
from localstyle.structures import Instances

TINY = os.path.join(REPO, "configs", "tiny", "deeplabv3_R_50_synthetic.yaml")
BASE = os.path.join(REPO, "configs", "Base-DeepLabV3-OS8.yaml")
# Smaller than the tiny config: 96-pixel images, 2 images per iteration, 4 iterations, checkpoint after 2.
UNITTEST_OPTS = ["DATALOADER.NUM_WORKERS", "0", "DATALOADER.ASPECT_RATIO_GROUPING", "False",
                 "INPUT.MIN_SIZE_TRAIN", "(80, 96)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "96",
                 "INPUT.MAX_SIZE_TEST", "128", "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "2",
                 "SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "2"]


def _direct_figures(preds, gts, num_classes, ignore=255):
    """IoU / accuracy / boundary IoU by definition: sets of pixels, boundaries by brute-force neighbourhoods."""
    inter, union, gt_pix = np.zeros(num_classes), np.zeros(num_classes), np.zeros(num_classes)
    b_inter, b_union = np.zeros(num_classes), np.zeros(num_classes)
    for pred, gt in zip(preds, gts):
        valid = gt != ignore
        h, w = gt.shape
        d = max(1, int(round(0.02 * math.hypot(h, w))))

        def boundary(mask):
            out = np.zeros_like(mask)
            for y, x in zip(*np.nonzero(mask)):
                win = mask[max(0, y - d):y + d + 1, max(0, x - d):x + d + 1]
                touches_border = y - d < 0 or x - d < 0 or y + d >= h or x + d >= w
                out[y, x] = touches_border or not win.all()
            return out

        for c in range(num_classes):
            p, g = (pred == c) & valid, (gt == c) & valid
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
            gt_pix[c] += g.sum()
            bp, bg = boundary(pred == c) & valid, boundary(gt == c) & valid
            b_inter[c] += (bp & bg).sum()
            b_union[c] += (bp | bg).sum()
    iou = inter / union
    return {"IoU": 100 * iou, "ACC": 100 * inter / gt_pix, "pACC": 100 * inter.sum() / gt_pix.sum(),
            "fwIoU": 100 * (iou * gt_pix / gt_pix.sum()).sum(), "BoundaryIoU": 100 * b_inter / b_union}


def test_metrics_match_direct_computation_with_ignore_labels():
    rng = np.random.default_rng(0)
    names = ["background", "person", "ball"]
    preds, gts = [], []
    for h, w in ((20, 24), (31, 17)):
        gt = np.zeros((h, w), dtype=np.int64)
        gt[3:15, 4:12] = 1
        gt[12:18, 10:16] = 2
        gt[0:2, :] = 255  # ignored stripe
        pred = gt.copy()
        pred[pred == 255] = 1  # predictions on ignored pixels must not count
        flips = rng.random((h, w)) < 0.15
        pred[flips] = rng.integers(0, 3, flips.sum())
        preds.append(pred)
        gts.append(gt)
    metrics = SemSegMetrics(names, ignore_value=255)
    for pred, gt in zip(preds, gts):
        metrics.add(pred, gt)
    res = metrics.compute()
    want = _direct_figures(preds, gts, 3)
    for i, name in enumerate(names):
        assert res[f"IoU-{name}"] == pytest.approx(want["IoU"][i])
        assert res[f"ACC-{name}"] == pytest.approx(want["ACC"][i])
        assert res[f"BoundaryIoU-{name}"] == pytest.approx(want["BoundaryIoU"][i])
    assert res["mIoU"] == pytest.approx(want["IoU"].mean())
    assert res["mACC"] == pytest.approx(want["ACC"].mean())
    assert res["pACC"] == pytest.approx(want["pACC"])
    assert res["fwIoU"] == pytest.approx(want["fwIoU"])
    assert 0 < res["BoundaryIoU-person"] < res["IoU-person"] < 100


def _square(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def test_annotations_become_class_maps_with_crowd_ignored():
    anns = [{"category_id": 0, "segmentation": _square(2, 2, 8, 8), "iscrowd": 0},
            {"category_id": 1, "segmentation": _square(10, 2, 14, 6), "iscrowd": 0},  # not a kept class
            {"category_id": 0, "segmentation": _square(6, 6, 12, 12), "iscrowd": 1}]
    labels = annotations_to_sem_seg(anns, 16, 16, {0: 1}, ignore_value=255)
    assert labels[4, 4] == 1 and labels[3, 12] == 0 and labels[14, 14] == 0
    assert labels[10, 10] == 255 and labels[7, 7] == 255  # crowd wins over the instance it overlaps
    assert set(np.unique(labels)) == {0, 1, 255}


@pytest.fixture(scope="module")
def data_opts(tmp_path_factory):
    return make_tiny_synthetic(tmp_path_factory.mktemp("synthetic"), name="semseg")


def test_evaluator_scores_ground_truth_as_perfect_for_both_model_kinds(data_opts):
    cfg = load_config(TINY, data_opts)
    register_datasets_from_cfg(cfg)
    dicts = DatasetCatalog.get("semseg_val")
    semantic = SemSegEvaluator("semseg_val", ["person"], distributed=False)
    instance = SemSegEvaluator("semseg_val", ["person"], instance_score_thresh=0.5, distributed=False)
    for d in dicts:
        inp = {k: d[k] for k in ("image_id", "height", "width")}
        gt = annotations_to_sem_seg(d["annotations"], d["height"], d["width"], {0: 1})
        probs = torch.nn.functional.one_hot(torch.from_numpy(np.where(gt == 1, 1, 0)), 2).permute(2, 0, 1)
        semantic.process([inp], [{"sem_seg": probs.float()}])
        people = [a for a in d["annotations"] if a["category_id"] == 0 and not a["iscrowd"]]
        masks = torch.stack([torch.from_numpy(annotations_to_sem_seg([a], d["height"], d["width"], {0: 1}) == 1)
                             for a in people])
        inst = Instances((d["height"], d["width"]), pred_masks=masks, pred_classes=torch.zeros(len(people)).long(),
                         scores=torch.full((len(people),), 0.9))
        instance.process([inp], [{"instances": inst}])
    for res in (semantic.evaluate()["sem_seg"], instance.evaluate()["sem_seg"]):
        assert res["IoU-person"] == pytest.approx(100) and res["BoundaryIoU-person"] == pytest.approx(100)
        assert res["mIoU"] == pytest.approx(100)


def _train_net(*args):
    from train_net import cli

    cli(["--config-file", TINY, *args])


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_train_resume_exact_and_eval_only(data_opts, tmp_path, one_torch_thread):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    _train_net(*data_opts, *UNITTEST_OPTS, "OUTPUT_DIR", str(full))
    results = json.loads((full / "inference" / "results.json").read_text())["sem_seg"]
    assert {"mIoU", "fwIoU", "mACC", "pACC", "IoU-person", "BoundaryIoU-person"} <= set(results)
    assert [json.loads(line)["iteration"] for line in (full / "metrics.json").read_text().splitlines()
            if "total_loss" in line][-1] == 3
    resumed.mkdir()
    shutil.copy(full / "model_0000001.pth", resumed)
    (resumed / "last_checkpoint").write_text("model_0000001.pth")
    _train_net("--resume", *data_opts, *UNITTEST_OPTS, "DATASETS.TEST", "()", "OUTPUT_DIR", str(resumed))
    reference, final = _weights(full / "model_final.pth"), _weights(resumed / "model_final.pth")
    assert final.keys() == reference.keys()
    assert all(torch.equal(final[k], reference[k]) for k in final)
    assert not torch.equal(final["sem_seg_head.classifier.4.weight"],
                           _weights(full / "model_0000001.pth")["sem_seg_head.classifier.4.weight"])
    evaluated = tmp_path / "eval"
    _train_net("--eval-only", *data_opts, *UNITTEST_OPTS, "MODEL.WEIGHTS", str(full / "model_final.pth"),
               "OUTPUT_DIR", str(evaluated))
    again = json.loads((evaluated / "inference" / "results.json").read_text())["sem_seg"]
    assert again == pytest.approx(results, nan_ok=True)


def test_torchvision_deeplabv3_weights_load_by_name_with_voc_person(tmp_path):
    from torchvision.models.segmentation import deeplabv3_resnet50

    torch.manual_seed(0)
    tv = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()
    for m in tv.modules():  # non-trivial BatchNorm statistics, so that a misplaced tensor shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "deeplabv3_resnet50.pth"
    torch.save(tv.state_dict(), path)
    cfg = load_config(BASE, ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", "50", "MODEL.RESNETS.NORM", "FrozenBN"])
    model = build_model(cfg).eval()
    report = load_model_weights(model, str(path))
    assert report["format"] == "torchvision_deeplabv3"
    assert report["missing"] == [] and report["unexpected"] == [] and report["skipped"] == []
    image = torch.rand(3, 48, 64) * 255
    with torch.no_grad():
        ours = model([{"image": image}])[0]["sem_seg"]
        mean, std = model.pixel_mean, model.pixel_std
        theirs = torch.softmax(tv(((image - mean) / std)[None])["out"][0, [0, 15]], dim=0)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_torchvision_imagenet_resnet_loads_into_the_dilated_backbone(tmp_path):
    from torchvision.models import resnet50

    path = tmp_path / "resnet50.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    cfg = load_config(BASE, ["MODEL.DEVICE", "cpu", "MODEL.RESNETS.DEPTH", "50", "MODEL.RESNETS.NORM", "FrozenBN",
                             "MODEL.SEM_SEG_HEAD.AUX_LOSS_WEIGHT", "0.0"])
    model = build_model(cfg)
    report = load_model_weights(model, str(path))
    assert report["format"] == "torchvision_resnet" and report["skipped"] == []
    assert report["unexpected"] == []  # the classifier (fc) is dropped by the conversion
    assert report["missing"] and all(k.startswith("sem_seg_head.classifier.") for k in report["missing"])


PHOTO = os.path.join(REPO, "assets", "photos", "coco_train2017_000000360452.jpg")
STYLE = os.path.join(REPO, "assets", "styles", "vangogh_starry_night_1889.jpg")


def _sharp_semantic_checkpoint(path):
    """The tiny (untrained) DeepLabv3 with its classifier rescaled so that the person probability is near 0 or 1
    and about a third of the photo is person: a spatially varying map with exact zeros after 8-bit quantization."""
    from localstyle.engine.predictor import DefaultPredictor

    torch.manual_seed(0)
    predictor = DefaultPredictor(load_config(TINY, ["MODEL.DEVICE", "cpu"]))
    probs = predictor(PHOTO)["sem_seg"]
    diff = torch.log(probs[1] / probs[0])  # person minus background logit
    k = 12.0 / float(diff.std())
    final = predictor.model.sem_seg_head.classifier[4]
    with torch.no_grad():
        final.weight.mul_(k)
        final.bias.mul_(k)
        final.bias[1] -= k * float(diff.quantile(0.66))
    torch.save({"model": predictor.model.state_dict()}, path)


@pytest.mark.parametrize("soft", [False, True])
def test_semantic_source_styles_only_where_the_probability_map_says_person(soft, tmp_path, one_torch_thread):
    """By default the alpha is the hard mask p(person) > 0.5 (no feathering here); MASKS.SEMANTIC_SOFT makes the
    probability itself the alpha."""
    import stylize_net
    from localstyle.engine.predictor import DefaultPredictor
    from localstyle.utils.image_io import read_image

    weights = tmp_path / "sharp.pth"
    _sharp_semantic_checkpoint(weights)
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(PHOTO, inputs)
    out = tmp_path / "out"
    assert stylize_net.main(["--config-file", TINY, "--input", str(inputs), "--output", str(out),
                             "MODEL.WEIGHTS", str(weights), "MASKS.SOURCE", "semantic", "MASKS.FEATHER", "0",
                             "STYLE.METHOD", "gatys", "STYLE.IMAGE", STYLE, "STYLE.SIZE", "64",
                             "STYLE.GATYS.STEPS", "2", "STYLIZE.NUM_WORKERS", "0",
                             "MASKS.SEMANTIC_SOFT", str(soft)]) == 0
    stem = os.path.splitext(os.path.basename(PHOTO))[0]
    photo, composite = read_image(PHOTO), read_image(out / f"{stem}.png")
    mask = np.asarray(read_image(out / f"{stem}_mask.png"))[..., 0].astype(int)
    prob = DefaultPredictor(load_config(TINY, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", str(weights)]))(PHOTO)
    person = prob["sem_seg"][1].numpy()
    expected = np.round(person * 255) if soft else np.where(person > 0.5, 255, 0)
    assert np.abs(mask - expected).max() <= 1
    assert 0.1 < (mask == 0).mean() < 0.9 and (mask == 255).any()
    assert ((mask > 0) & (mask < 255)).any() == soft
    assert np.array_equal(composite[mask == 0], photo[mask == 0])
    assert not np.array_equal(composite[mask == 255], photo[mask == 255])
    entry = json.loads((out / "manifest.json").read_text())["images"][stem]
    assert [i["class"] for i in entry["instances"]] == ["person"]


def test_predictor_semantic_refines_only_the_band_around_each_instance_edge():
    from localstyle.masks.base import Detections
    from localstyle.masks.semantic import refine_edges

    hard = np.zeros((2, 40, 40), bool)
    hard[0, 10:30, 10:30] = True
    hard[1, 2:8, 2:8] = True  # a class the semantic model does not have: stays hard
    det = Detections([0, 1], [0.9, 0.8], [[10, 10, 30, 30], [2, 2, 8, 8]], hard)
    probs = np.random.default_rng(0).random((2, 40, 40)).astype(np.float32)
    refined = refine_edges(det, probs, {0: 1}, band=3)
    soft = refined.soft_masks[0]
    assert np.array_equal(refined.masks, hard) and np.array_equal(refined.alpha_masks([1])[0], hard[1])
    assert (soft[14:26, 14:26] == 1).all()  # deep inside: the instance mask
    far = np.ones((40, 40), bool)
    far[6:34, 6:34] = False
    assert (soft[far] == 0).all()  # far outside: nothing
    for y, x in ((10, 20), (9, 20), (29, 15), (20, 30), (20, 7)):  # on and next to the edge: the probability
        assert soft[y, x] == probs[1, y, x]


def test_datasets_classes_renumbering_keeps_the_person_labels(data_opts):
    """DATASETS.CLASSES ["ball", "person"] renumbers person to 1 in the dicts: the label maps must not change."""
    from localstyle.data.build import build_detection_train_loader

    def first_batch(*extra):
        cfg = load_config(TINY, [*data_opts, *UNITTEST_OPTS, *extra])
        register_datasets_from_cfg(cfg)
        return next(iter(build_detection_train_loader(cfg)))

    plain, selected = first_batch(), first_batch("DATASETS.CLASSES", "['ball', 'person']")
    assert all((x["sem_seg"] == 1).any() for x in plain)
    assert all(torch.equal(a["sem_seg"], b["sem_seg"]) for a, b in zip(plain, selected))
