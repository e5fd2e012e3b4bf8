"""Training/test loaders on real COCO images: deterministic, resumable, worker/world-size independent, aligned."""
import json
import os

import cv2
import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from localstyle.config import get_cfg
from localstyle.data import DatasetCatalog, register_coco_instances
from localstyle.data.build import (build_detection_test_loader, build_detection_train_loader,
                                   get_detection_dataset_dicts)
from localstyle.data.dataset_mapper import DatasetMapper
from localstyle.data.samplers import InferenceSampler, TrainingBatchSampler
from localstyle.data.serialized_list import SerializedList
from localstyle.data.transforms import get_output_shape
from localstyle.structures import PolygonMasks
from localstyle.utils.image_io import read_image

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "data", "coco_dev", "coco_tiny_train2017")


def small_cfg(**kw):
    cfg = get_cfg()
    cfg.DATASETS.TRAIN = ("coco_tiny_person",)
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = 1
    cfg.INPUT.MIN_SIZE_TRAIN = (96, 112, 128)
    cfg.INPUT.MAX_SIZE_TRAIN = 200
    cfg.INPUT.MIN_SIZE_TEST = 120
    cfg.INPUT.MAX_SIZE_TEST = 200
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.SEED = 5
    for k, v in kw.items():
        cfg.merge_from_list([k, v])
    return cfg


def take(cfg, n, start_iter=0):
    it = iter(build_detection_train_loader(cfg, start_iter=start_iter))
    return [next(it) for _ in range(n)]


def same_polygons(a, b):
    return len(a) == len(b) and all(len(pa) == len(pb) and all(np.array_equal(x, y) for x, y in zip(pa, pb))
                                    for pa, pb in zip(a.polygons, b.polygons))


def same_batches(a, b):
    for ba, bb in zip(a, b, strict=True):
        assert [d["image_id"] for d in ba] == [d["image_id"] for d in bb]
        for da, db in zip(ba, bb):
            assert torch.equal(da["image"], db["image"])
            ia, ib = da["instances"], db["instances"]
            assert torch.equal(ia.gt_boxes.tensor, ib.gt_boxes.tensor) and same_polygons(ia.gt_masks, ib.gt_masks)
            assert torch.equal(ia.gt_classes, ib.gt_classes)


def test_same_seed_same_batches_and_resume_from_iteration():
    cfg = small_cfg()
    full = take(cfg, 6)
    same_batches(full, take(cfg, 6))
    same_batches(full[4:], take(cfg, 2, start_iter=4))  # aspect-ratio grouping on: the replay restores buckets
    other = take(small_cfg(SEED=6), 6)
    assert [d["image_id"] for b in other for d in b] != [d["image_id"] for b in full for d in b]
    # every batch is aspect-grouped and has the right structure
    for batch in full:
        assert len(batch) == 2 and len({d["width"] < d["height"] for d in batch}) == 1
        for d in batch:
            img, inst = d["image"], d["instances"]
            assert img.dtype == torch.uint8 and img.shape[0] == 3 and inst.image_size == tuple(img.shape[1:])
            assert min(img.shape[1:]) in (96, 112, 128) or max(img.shape[1:]) == 200
            assert isinstance(inst.gt_masks, PolygonMasks) and len(inst.gt_masks) == len(inst.gt_boxes)
            assert inst.gt_classes.dtype == torch.int64 and (inst.gt_classes == 0).all()


def test_resume_without_grouping_and_epoch_boundaries():
    cfg = small_cfg(**{"DATALOADER.ASPECT_RATIO_GROUPING": False, "SOLVER.IMS_PER_BATCH": 3})
    # 40 images: the first 13 batches of 3 stay in epoch 0 (no repeats); iteration 13 crosses into epoch 1
    full = take(cfg, 15)
    same_batches(full[13:], take(cfg, 2, start_iter=13))
    ids = [d["image_id"] for b in full[:13] for d in b]
    assert len(set(ids)) == len(ids) == 39


def test_workers_and_world_size_do_not_change_the_data():
    cfg = small_cfg()
    same_batches(take(cfg, 3), take(small_cfg(**{"DATALOADER.NUM_WORKERS": 2}), 3))
    groups = [0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1]
    one = iter(TrainingBatchSampler(groups, 4, seed=3, rank=0, world_size=1))
    ranks = [iter(TrainingBatchSampler(groups, 4, seed=3, rank=r, world_size=2)) for r in range(2)]
    for _ in range(10):
        assert next(one) == next(ranks[0]) + next(ranks[1])
    with pytest.raises(Exception, match="not divisible"):
        TrainingBatchSampler(groups, 3, seed=0, rank=0, world_size=2)


def test_masks_and_boxes_stay_aligned_after_flip_and_resize():
    cfg = small_cfg(**{"INPUT.MASK_FORMAT": "bitmask"})
    noflip = DatasetMapper(small_cfg(**{"INPUT.RANDOM_FLIP": "none", "INPUT.MASK_FORMAT": "bitmask"}), is_train=True)
    flip = DatasetMapper(cfg, is_train=True)
    dicts = DatasetCatalog.get("coco_tiny_person")[:12]
    flipped = 0
    for i, d in enumerate(dicts):
        a, b = noflip(d, seed=[1, i]), flip(d, seed=[1, i])
        assert a["image"].shape == b["image"].shape  # same resize draw
        if torch.equal(b["image"], a["image"].flip(-1)) and not torch.equal(a["image"], b["image"]):
            flipped += 1
            assert torch.equal(b["instances"].gt_masks, a["instances"].gt_masks.flip(-1))
        else:
            assert torch.equal(a["image"], b["image"])
        inst = b["instances"]
        assert len(inst) == sum(1 for x in d["annotations"] if not x["iscrowd"])  # crowd dropped
        for box, mask in zip(inst.gt_boxes.tensor, inst.gt_masks):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            if len(xs) < 20:
                continue
            mask_box = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
            scale = max(box[2] - box[0], box[3] - box[1])
            assert (mask_box - box).abs().max() <= max(3.0, 0.05 * scale), (d["file_name"], box, mask_box)
    assert 0 < flipped < len(dicts)


def test_input_format_and_range_sampling():
    d = DatasetCatalog.get("coco_tiny_person")[0]
    rgb = DatasetMapper(small_cfg(**{"INPUT.FORMAT": "RGB"}), is_train=True)(d, seed=[0])
    bgr = DatasetMapper(small_cfg(**{"INPUT.FORMAT": "BGR"}), is_train=True)(d, seed=[0])
    assert torch.equal(rgb["image"], bgr["image"].flip(0))
    mapper = DatasetMapper(small_cfg(**{"INPUT.MIN_SIZE_TRAIN": (90, 110), "INPUT.MIN_SIZE_TRAIN_SAMPLING": "range",
                                        "INPUT.MAX_SIZE_TRAIN": 1000}), is_train=True)
    shorts = {min(mapper(d, seed=[s])["image"].shape[1:]) for s in range(12)}
    assert len(shorts) > 3 and min(shorts) >= 90 and max(shorts) <= 110


def test_filter_empty_annotations(tmp_path):
    data = json.load(open(os.path.join(TINY, "annotations", "instances_train2017.json")))
    data["images"] = data["images"][:5]
    ids = [im["id"] for im in data["images"]]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids[2:]]  # 2 images without any
    (tmp_path / "a.json").write_text(json.dumps(data))
    register_coco_instances("test_loader_empty", {}, str(tmp_path / "a.json"), os.path.join(TINY, "train2017"))
    assert len(get_detection_dataset_dicts(["test_loader_empty"], filter_empty=True)) == 3
    assert len(get_detection_dataset_dicts(["test_loader_empty"], filter_empty=False)) == 5


def test_test_loader_order_resize_and_sharding():
    cfg = small_cfg()
    loader = build_detection_test_loader(cfg, "lizhogn_tiny_person")
    dicts = DatasetCatalog.get("lizhogn_tiny_person")
    out = [batch for batch in loader]
    assert len(out) == len(dicts) == 26 and all(len(b) == 1 for b in out)
    for (m,), d in zip(out, dicts):
        assert m["image_id"] == d["image_id"] and (m["height"], m["width"]) == (d["height"], d["width"])
        assert "instances" not in m and "annotations" not in m
        h, w = m["image"].shape[1:]
        assert min(h, w) == 120 or max(h, w) == 200
    shards = [list(InferenceSampler(26, rank=r, world_size=3)) for r in range(3)]
    assert shards[1] == list(range(1, 26, 3)) and sorted(sum(shards, [])) == list(range(26))


def test_serialized_list_returns_equal_dicts():
    dicts = DatasetCatalog.get("coco_tiny_person") + DatasetCatalog.get("lizhogn_tiny_person")
    stored = SerializedList(dicts)
    assert len(stored) == len(dicts) and list(stored) == dicts and stored[-1] == dicts[-1]
    assert stored[3] is not stored[3] and stored.nbytes > 0
    with pytest.raises(IndexError):
        stored[len(dicts)]


def test_image_equals_plain_torchvision_resize_and_flip():
    """The fast (cv2) flip and channel de-interleave give the same bytes as torchvision's ops."""
    cfg = small_cfg()
    mapper = DatasetMapper(cfg, is_train=True)
    for i, d in enumerate(DatasetCatalog.get("coco_tiny_person")[:6]):
        rng = np.random.default_rng([2, i])
        short = cfg.INPUT.MIN_SIZE_TRAIN[int(rng.integers(3))]
        size = list(get_output_shape(d["height"], d["width"], short, cfg.INPUT.MAX_SIZE_TRAIN))
        rgb = read_image(d["file_name"], "RGB")
        assert np.array_equal(read_image(d["file_name"], "BGR"), rgb[:, :, ::-1])
        ref = F.resize(tv_tensors.Image(torch.from_numpy(rgb[:, :, ::-1].copy()).permute(2, 0, 1)), size,
                       antialias=True)
        ref = ref.flip(-1) if rng.uniform() < 0.5 else ref
        out = mapper(d, seed=[2, i])["image"]
        assert out.is_contiguous() and torch.equal(out, ref.as_subclass(torch.Tensor).contiguous())


def test_polygons_through_flip_and_resize_match_bitmaps_within_a_pixel():
    bitmap = DatasetMapper(small_cfg(**{"INPUT.MASK_FORMAT": "bitmask"}), is_train=True)
    polygon = DatasetMapper(small_cfg(), is_train=True)
    for i, d in enumerate(DatasetCatalog.get("coco_tiny_person")[:10]):
        a, b = bitmap(d, seed=[3, i]), polygon(d, seed=[3, i])
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["instances"].gt_boxes.tensor, b["instances"].gt_boxes.tensor)
        bits = a["instances"].gt_masks.numpy()
        raster = b["instances"].gt_masks.rasterize(*b["image"].shape[1:]).numpy()
        assert raster.shape == bits.shape
        for m, r in zip(bits.astype(np.uint8), raster.astype(np.uint8)):  # each within a pixel of the other
            kernel = np.ones((3, 3), np.uint8)
            assert not (m & ~cv2.dilate(r, kernel)).any() and not (r & ~cv2.dilate(m, kernel)).any()
            assert m.sum() < 50 or (m & r).sum() >= 0.8 * m.sum()  # tiny masks: the 1-pixel bound only
