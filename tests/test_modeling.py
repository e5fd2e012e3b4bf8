"""Mask R-CNN modeling on a thin R50-FPN and real COCO person images: losses, gradients, freezing, eval outputs."""
import math
import os

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

from localstyle.config import get_cfg
from localstyle.data import DatasetCatalog
from localstyle.data.dataset_mapper import DatasetMapper
from localstyle.modeling import META_ARCH_REGISTRY, GeneralizedRCNN, build_model
from localstyle.modeling.box_regression import Box2BoxTransform
from localstyle.modeling.layers import FrozenBatchNorm2d, calibrate_frozen_batchnorm
from localstyle.modeling.matcher import Matcher, subsample_labels
from localstyle.modeling.poolers import assign_boxes_to_levels
from localstyle.modeling.roi_heads import mask_targets
from localstyle.structures import Boxes, Instances, PolygonMasks
from localstyle.utils.errors import LocalstyleError

COCO_ROOT = os.path.join(os.path.dirname(__file__), "data", "coco_dev")
PERSON_JSON = os.path.join(COCO_ROOT, "coco_tiny_train2017_person", "annotations", "person_train2017.json")
IMAGE_DIR = os.path.join(COCO_ROOT, "coco_tiny_train2017", "train2017")
LOSS_NAMES = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask"}


def tiny_cfg(depth=50):
    cfg = get_cfg()
    cfg.merge_from_list([
        "MODEL.DEVICE", "cpu", "MODEL.MASK_ON", "True", "MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
        "MODEL.RESNETS.DEPTH", str(depth), "MODEL.RESNETS.OUT_FEATURES", "['res2', 'res3', 'res4', 'res5']",
        "MODEL.RESNETS.WIDTH_PER_GROUP", "8", "MODEL.RESNETS.STEM_OUT_CHANNELS", "8",
        "MODEL.RESNETS.RES2_OUT_CHANNELS", "32", "MODEL.FPN.IN_FEATURES", "['res2', 'res3', 'res4', 'res5']",
        "MODEL.FPN.OUT_CHANNELS", "16", "MODEL.ANCHOR_GENERATOR.SIZES", "[[32], [64], [128], [256], [512]]",
        "MODEL.RPN.IN_FEATURES", "['p2', 'p3', 'p4', 'p5', 'p6']", "MODEL.RPN.PRE_NMS_TOPK_TRAIN", "300",
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", "100", "MODEL.RPN.PRE_NMS_TOPK_TEST", "200",
        "MODEL.RPN.POST_NMS_TOPK_TEST", "50", "MODEL.RPN.BATCH_SIZE_PER_IMAGE", "64",
        "MODEL.ROI_HEADS.NAME", "StandardROIHeads", "MODEL.ROI_HEADS.IN_FEATURES", "['p2', 'p3', 'p4', 'p5']",
        "MODEL.ROI_HEADS.NUM_CLASSES", "1", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
        "MODEL.ROI_BOX_HEAD.NAME", "FastRCNNConvFCHead", "MODEL.ROI_BOX_HEAD.NUM_FC", "2",
        "MODEL.ROI_BOX_HEAD.FC_DIM", "32", "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", "7",
        "MODEL.ROI_MASK_HEAD.NUM_CONV", "2", "MODEL.ROI_MASK_HEAD.CONV_DIM", "16",
    ])
    return cfg


def load_coco_inputs(image_ids=(106499, 114692), short_side=128):
    """Real COCO person images + gt (boxes, class 0, bitmasks), resized like the training mapper would."""
    coco = COCO(PERSON_JSON)
    inputs = []
    for image_id in image_ids:
        info = coco.imgs[image_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False))
        img = cv2.imread(os.path.join(IMAGE_DIR, info["file_name"]), cv2.IMREAD_COLOR)
        scale = short_side / min(img.shape[:2])
        h, w = int(img.shape[0] * scale + 0.5), int(img.shape[1] * scale + 0.5)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        masks = np.stack([cv2.resize(coco.annToMask(a), (w, h), interpolation=cv2.INTER_NEAREST) for a in anns])
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                              for a in anns]) * scale
        inst = Instances((h, w), gt_boxes=Boxes(boxes), gt_classes=torch.zeros(len(anns), dtype=torch.int64),
                         gt_masks=torch.from_numpy(masks).bool())
        inputs.append({"image": torch.from_numpy(img.transpose(2, 0, 1).copy()), "height": info["height"],
                       "width": info["width"], "image_id": image_id, "instances": inst})
    return inputs


@pytest.fixture(scope="module")
def coco_inputs():
    return load_coco_inputs()


def calibrated_model(inputs, cfg=None):
    """A randomly initialized tiny model whose FrozenBNs are calibrated on ``inputs`` (trainable from scratch)."""
    torch.manual_seed(0)
    model = build_model(cfg or tiny_cfg())
    calibrate_frozen_batchnorm(model, lambda: model.backbone(model.preprocess_image(inputs)[0]))
    return model.train()


def test_training_losses_gradients_freeze_and_sgd(coco_inputs):
    model = calibrated_model(coco_inputs)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.02, momentum=0.9)
    losses = model(coco_inputs)
    assert set(losses) == LOSS_NAMES
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    # untrained heads: classification losses start near log(2) (sigmoid) / log(K + 1) (softmax)
    assert 0.4 < losses["loss_rpn_cls"].item() < 0.8 and 0.4 < losses["loss_cls"].item() < 0.8
    assert 0.6 < losses["loss_mask"].item() < 0.8
    sum(losses.values()).backward()
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    # FREEZE_AT 2: stem and res2 are frozen (their FrozenBN tensors are buffers), nothing else
    assert frozen and all(n.startswith(("backbone.bottom_up.stem.", "backbone.bottom_up.res2.")) for n in frozen)
    assert {n.split(".")[2] for n in frozen} == {"stem", "res2"}
    assert all(p.grad is None for n, p in model.named_parameters() if not p.requires_grad)
    for name in ["backbone.bottom_up.res3.0.conv1.weight", "backbone.fpn_lateral2.weight",
                 "proposal_generator.rpn_head.objectness_logits.weight",
                 "proposal_generator.rpn_head.anchor_deltas.weight",
                 "roi_heads.box_head.fc1.weight", "roi_heads.box_predictor.cls_score.weight",
                 "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.mask_head.mask_fcn1.weight",
                 "roi_heads.mask_head.predictor.weight"]:
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert isinstance(model.backbone.bottom_up.res3[0].conv1.norm, FrozenBatchNorm2d)
    # a few SGD steps on the same batch reduce the total loss; frozen weights stay put
    stem = model.backbone.bottom_up.stem.conv1.weight.clone()
    totals = [sum(losses.values()).item()]
    for _ in range(4):
        opt.step()
        opt.zero_grad()
        loss = sum(model(coco_inputs).values())
        loss.backward()
        totals.append(loss.item())
    assert totals[-1] < totals[0], totals
    assert torch.equal(model.backbone.bottom_up.stem.conv1.weight, stem)


def test_training_with_an_image_without_objects(coco_inputs):
    model = calibrated_model(coco_inputs)
    empty = dict(coco_inputs[0])
    h, w = empty["image"].shape[1:]
    empty["instances"] = Instances((h, w), gt_boxes=Boxes(torch.zeros(0, 4)),
                                   gt_classes=torch.zeros(0, dtype=torch.int64),
                                   gt_masks=torch.zeros(0, h, w, dtype=torch.bool))
    losses = model([empty])
    assert set(losses) == LOSS_NAMES and all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_box_reg"].item() == 0 and losses["loss_mask"].item() == 0
    assert losses["loss_rpn_loc"].item() == 0
    sum(losses.values()).backward()
    # BOUNDARY_THRESH 0: anchors crossing the border are ignored (d2's behaviour), training still runs
    model.proposal_generator.boundary_threshold = 0
    assert all(torch.isfinite(v) for v in model(coco_inputs).values())


def test_eval_outputs_fields_and_shapes(coco_inputs):
    cfg = tiny_cfg()
    model = calibrated_model(coco_inputs, cfg).eval()
    inputs = [{k: v for k, v in x.items() if k != "instances"} for x in coco_inputs]
    with torch.no_grad():
        outputs = model(inputs)
    assert len(outputs) == 2
    for inp, out in zip(inputs, outputs):
        inst = out["instances"]
        assert inst.image_size == (inp["height"], inp["width"])
        n = len(inst)
        assert 0 < n <= cfg.TEST.DETECTIONS_PER_IMAGE
        assert isinstance(inst.pred_boxes, Boxes) and inst.pred_boxes.tensor.shape == (n, 4)
        b = inst.pred_boxes.tensor
        assert (b[:, 0] >= 0).all() and (b[:, 2] <= inp["width"]).all() and (b[:, 3] <= inp["height"]).all()
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert inst.scores.shape == (n,) and (inst.scores[:-1] >= inst.scores[1:]).all()
        assert inst.pred_classes.dtype == torch.int64 and (inst.pred_classes == 0).all()
        assert inst.pred_masks.dtype == torch.bool and inst.pred_masks.shape == (n, inp["height"], inp["width"])
    # without postprocessing: resized-image coordinates and 28x28 mask probabilities
    with torch.no_grad():
        raw = model.inference(inputs[:1], do_postprocess=False)[0]
    assert raw.image_size == tuple(inputs[0]["image"].shape[1:]) and raw.pred_masks.shape[1:] == (1, 28, 28)


def test_resnet_depths_block_counts_and_freeze_at():
    counts = {}
    for depth, blocks in [(50, [3, 4, 6, 3]), (101, [3, 4, 23, 3])]:
        model = build_model(tiny_cfg(depth))
        bottom_up = model.backbone.bottom_up
        assert [len(getattr(bottom_up, f"res{i}")) for i in range(2, 6)] == blocks
        counts[depth] = len(model.state_dict())
    # 17 more bottleneck blocks in res4, each 3 convs x (weight + 4 FrozenBN tensors)
    assert counts[101] - counts[50] == 17 * 3 * 5
    cfg = tiny_cfg()
    cfg.merge_from_list(["MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64",
                         "MODEL.BACKBONE.FREEZE_AT", "0", "MODEL.RESNETS.NORM", "BN"])
    model = build_model(cfg)
    assert [len(getattr(model.backbone.bottom_up, f"res{i}")) for i in range(2, 6)] == [2, 2, 2, 2]
    assert all(p.requires_grad for p in model.parameters())
    assert isinstance(model.backbone.bottom_up.stem.conv1.norm, torch.nn.BatchNorm2d)


def test_detectron2_names_and_class_layout():
    cfg = tiny_cfg()
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 3
    sd = build_model(cfg).state_dict()
    assert list(sd)[0] == "backbone.fpn_lateral2.weight"  # FPN convs before bottom_up, as detectron2
    assert sd["roi_heads.box_predictor.cls_score.weight"].shape[0] == 4  # K + 1, background last
    assert sd["roi_heads.box_predictor.bbox_pred.weight"].shape[0] == 12  # 4 K
    assert sd["roi_heads.mask_head.predictor.weight"].shape[0] == 3
    assert sd["proposal_generator.rpn_head.anchor_deltas.weight"].shape[0] == 12
    assert "pixel_mean" not in sd and "backbone.bottom_up.stem.conv1.norm.running_var" in sd
    cfg.merge_from_list(["MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", "True", "MODEL.ROI_MASK_HEAD.CLS_AGNOSTIC_MASK",
                         "True", "MODEL.MASK_ON", "False"])
    sd = build_model(cfg).state_dict()
    assert sd["roi_heads.box_predictor.bbox_pred.weight"].shape[0] == 4
    assert not any(k.startswith("roi_heads.mask_head") for k in sd)


def test_meta_arch_registry_and_config_errors():
    @META_ARCH_REGISTRY.register()
    class TinyUserRCNN(GeneralizedRCNN):
        pass

    try:
        cfg = tiny_cfg()
        cfg.MODEL.META_ARCHITECTURE = "TinyUserRCNN"
        assert type(build_model(cfg)).__name__ == "TinyUserRCNN"
    finally:
        META_ARCH_REGISTRY._obj_map.pop("TinyUserRCNN")
    cfg = tiny_cfg()
    cfg.MODEL.META_ARCHITECTURE = "Nope"
    with pytest.raises(LocalstyleError, match="MODEL.META_ARCHITECTURE"):
        build_model(cfg)
    cfg = tiny_cfg()
    cfg.MODEL.RESNETS.DEPTH = 42
    with pytest.raises(LocalstyleError, match="DEPTH"):
        build_model(cfg)


def test_box_transform_matcher_sampler_and_levels():
    t = Box2BoxTransform((10.0, 10.0, 5.0, 5.0))
    src = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 50.0, 30.0]])
    dst = torch.tensor([[1.0, 2.0, 12.0, 18.0], [0.0, 10.0, 40.0, 35.0]])
    assert torch.allclose(t.apply_deltas(t.get_deltas(src, dst), src), dst, atol=1e-4)
    # detectron2 Matcher: [0.3, 0.7] -> labels 0 / -1 / 1, plus low-quality matches for each gt's best anchor
    iou = torch.tensor([[0.1, 0.5, 0.8, 0.2], [0.0, 0.2, 0.1, 0.25]])
    matches, labels = Matcher([0.3, 0.7], [0, -1, 1], allow_low_quality_matches=True)(iou)
    assert matches.tolist() == [0, 0, 0, 1] and labels.tolist() == [0, -1, 1, 1]
    labels = torch.tensor([1] * 10 + [0] * 100 + [-1] * 5)
    pos, neg = subsample_labels(labels, 16, 0.25, 0)
    assert len(pos) == 4 and len(neg) == 12 and (labels[pos] == 1).all() and (labels[neg] == 0).all()
    sides = torch.tensor([10.0, 111.9, 112.0, 224.0, 448.0, 2000.0])
    boxes = torch.stack([torch.zeros(6), torch.zeros(6), sides, sides], dim=1)
    assert (assign_boxes_to_levels(boxes, 2, 5) + 2).tolist() == [2, 2, 3, 4, 5, 5]
    assert math.isclose(float(t.apply_deltas(torch.tensor([[0.0, 0.0, 100.0, 0.0]]), src[:1])[0, 2]),
                        5 + 0.5 * 10 * 1000 / 16, rel_tol=1e-5)  # dw clamped at log(1000/16)


def test_mask_targets_crop_the_matched_gt_mask():
    masks = torch.zeros(2, 40, 60, dtype=torch.bool)
    masks[0, 10:30, 10:20] = True  # left half of box [10, 10, 30, 30]
    masks[1, :, 30:] = True
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [20.0, 0.0, 40.0, 40.0], [10.0, 10.0, 30.0, 30.0]])
    t = mask_targets(masks, torch.tensor([0, 1, 1]), boxes, 28)
    assert t.shape == (3, 28, 28) and t.dtype == torch.bool
    assert t[0, :, :14].all() and not t[0, :, 14:].any()
    assert not t[1, :, :14].any() and t[1, :, 14:].all()
    assert not t[2].any()  # gt 1 does not reach into this box


def test_polygon_mask_targets_crop_the_matched_polygon():
    polys = PolygonMasks([[[10, 10, 20, 10, 20, 30, 10, 30]], [[30, 0, 60, 0, 60, 40, 30, 40]]])
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [20.0, 0.0, 40.0, 40.0], [10.0, 10.0, 30.0, 30.0]])
    t = mask_targets(polys, torch.tensor([0, 1, 1]), boxes, 28)
    assert t.shape == (3, 28, 28) and t.dtype == torch.bool
    assert t[0, :, :14].all() and not t[0, :, 14:].any()
    assert not t[1, :, :14].any() and t[1, :, 14:].all()
    assert not t[2].any()


def test_mask_loss_from_polygons_equals_bitmaps_within_rasterization():
    """One fixed batch mapped with polygon and with bitmap masks: same losses, mask loss within rasterization."""
    dicts = sorted(DatasetCatalog.get("coco_tiny_person"), key=lambda d: -max(a["bbox"][2] * a["bbox"][3]
                                                                               for a in d["annotations"]))[:2]
    batches = {}
    for fmt in ("polygon", "bitmask"):
        cfg = tiny_cfg()
        cfg.merge_from_list(["INPUT.MIN_SIZE_TRAIN", "(200,)", "INPUT.MAX_SIZE_TRAIN", "400", "INPUT.MASK_FORMAT", fmt])
        mapper = DatasetMapper(cfg, is_train=True)
        batches[fmt] = [mapper(d, seed=[7, i]) for i, d in enumerate(dicts)]
    for p, b in zip(batches["polygon"], batches["bitmask"]):  # the targets at the gt boxes agree
        gt = p["instances"]
        big = ((gt.gt_boxes.tensor[:, 2:] - gt.gt_boxes.tensor[:, :2]).min(1).values > 40).nonzero()[:, 0]
        assert isinstance(gt.gt_masks, PolygonMasks) and len(big) > 0
        tp = mask_targets(gt.gt_masks, big, gt.gt_boxes.tensor[big], 28)
        tb = mask_targets(b["instances"].gt_masks, big, gt.gt_boxes.tensor[big], 28)
        assert (tp ^ tb).float().mean() < 0.05
    model = calibrated_model(batches["bitmask"])
    with torch.no_grad():  # confident mask logits, so that the loss depends on the targets
        model.roi_heads.mask_head.predictor.weight.mul_(100)
    losses = {}
    for fmt, batch in batches.items():
        torch.manual_seed(1)
        with torch.no_grad():
            losses[fmt] = {k: v.item() for k, v in model(batch).items()}
    poly, bits = losses["polygon"], losses["bitmask"]
    assert {k: v for k, v in poly.items() if k != "loss_mask"} == {k: v for k, v in bits.items() if k != "loss_mask"}
    assert abs(poly["loss_mask"] - bits["loss_mask"]) < 0.01 * bits["loss_mask"]
    assert abs(bits["loss_mask"] - math.log(2)) > 0.02  # the logits are informative
