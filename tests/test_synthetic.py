"""Synthetic people set: valid COCO (pycocotools), deterministic from the seed, non-overlapping, has crowds."""
import hashlib
import os
import subprocess
import sys

import numpy as np
from pycocotools.coco import COCO

from localstyle.data import DatasetCatalog, MetadataCatalog
from localstyle.data.synthetic import make_synthetic
from localstyle.utils.image_io import read_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            h.update(name.encode())
            h.update(open(os.path.join(dirpath, name), "rb").read())
    return h.hexdigest()


def test_cli_output_is_valid_coco_and_deterministic(tmp_path):
    cmd = [sys.executable, os.path.join(REPO, "datasets", "make_synthetic.py"), "--num-train", "12",
           "--num-val", "4", "--size", "128", "--seed", "7"]
    for out in ("a", "b"):
        subprocess.run(cmd + ["--output", str(tmp_path / out)], check=True, capture_output=True)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    make_synthetic(tmp_path / "c", 12, 4, 128, seed=8)
    assert digest(tmp_path / "a") != digest(tmp_path / "c")

    api = COCO(str(tmp_path / "a" / "annotations" / "instances_train.json"))
    assert len(api.getImgIds()) == 12 and {c["name"] for c in api.loadCats(api.getCatIds())} == {"person", "ball"}
    assert len(COCO(str(tmp_path / "a" / "annotations" / "instances_val.json")).getImgIds()) == 4
    for img_id in api.getImgIds():
        info = api.imgs[img_id]
        image = read_image(tmp_path / "a" / "train" / info["file_name"])
        assert image.shape == (info["height"], info["width"], 3) == (128, 128, 3)
        anns = api.loadAnns(api.getAnnIds(imgIds=[img_id]))
        assert any(a["category_id"] == 1 and not a["iscrowd"] for a in anns)
        masks = np.stack([api.annToMask(a) for a in anns]).astype(bool)
        assert (masks.sum(0) <= 1).all()  # no overlap
        for a, m in zip(anns, masks):
            assert m.sum() == a["area"] > 150  # reasonably large
            ys, xs = np.nonzero(m)
            mask_box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert np.allclose(a["bbox"], mask_box, atol=1)
            # the object is painted: its pixels differ clearly from the background
            inside, outside = image[m].mean(0), image[~masks.any(0)].mean(0)
            assert np.abs(inside - outside).max() > 30


def test_crowd_regions_and_builtin_registration(tmp_path, monkeypatch):
    make_synthetic(tmp_path / "synthetic", num_train=24, num_val=4, size=160, seed=0)
    api = COCO(str(tmp_path / "synthetic" / "annotations" / "instances_train.json"))
    crowd = api.loadAnns(api.getAnnIds(iscrowd=True))
    assert crowd and all(isinstance(a["segmentation"], dict) and isinstance(a["segmentation"]["counts"], list)
                         for a in crowd)
    assert all(api.annToMask(a).sum() == a["area"] for a in crowd)
    monkeypatch.setenv("LOCALSTYLE_DATASETS", str(tmp_path))
    train, val = DatasetCatalog.get("synthetic_train"), DatasetCatalog.get("synthetic_val")
    assert len(train) == 24 and len(val) == 4
    assert MetadataCatalog.get("synthetic_train").thing_classes == ["person", "ball"]
    assert {a["category_id"] for d in train for a in d["annotations"]} == {0, 1}
    assert all(os.path.isfile(d["file_name"]) for d in train)
