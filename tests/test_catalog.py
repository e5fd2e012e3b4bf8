"""Dataset registry, COCO JSON loading (checked against pycocotools), built-in names and cfg registration."""
import json
import os

import pytest
from pycocotools.coco import COCO

from localstyle.config import get_cfg
from localstyle.data import (BoxMode, DatasetCatalog, MetadataCatalog, load_coco_json, register_coco_instances,
                             register_datasets_from_cfg)
from localstyle.utils.errors import LocalstyleError

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "data", "coco_dev", "coco_tiny_train2017")
TINY_JSON = os.path.join(TINY, "annotations", "instances_train2017.json")
TINY_IMAGES = os.path.join(TINY, "train2017")


def test_load_coco_json_matches_pycocotools():
    dicts = load_coco_json(TINY_JSON, TINY_IMAGES, "test_catalog_tiny")
    api = COCO(TINY_JSON)
    assert sorted(d["image_id"] for d in dicts) == sorted(api.getImgIds())
    cat_ids = sorted(api.getCatIds())
    meta = MetadataCatalog.get("test_catalog_tiny")
    assert meta.thing_classes == [c["name"] for c in api.loadCats(cat_ids)]
    assert meta.thing_dataset_id_to_contiguous_id == {c: i for i, c in enumerate(cat_ids)}
    for d in dicts:
        img = api.imgs[d["image_id"]]
        assert (d["height"], d["width"]) == (img["height"], img["width"])
        assert d["file_name"] == os.path.join(TINY_IMAGES, img["file_name"]) and os.path.isfile(d["file_name"])
        anns = api.loadAnns(api.getAnnIds(imgIds=[d["image_id"]]))
        assert len(d["annotations"]) == len(anns)
        for a, ref in zip(d["annotations"], anns):
            assert a["bbox"] == ref["bbox"] and a["bbox_mode"] == BoxMode.XYWH_ABS == 1
            assert a["category_id"] == cat_ids.index(ref["category_id"])
            assert a["iscrowd"] == ref["iscrowd"] and a["segmentation"] == ref["segmentation"]
    # crowd regions keep their RLE; person is class 0 (COCO id 1)
    crowd = [a for d in dicts for a in d["annotations"] if a["iscrowd"]]
    assert crowd and all(isinstance(a["segmentation"], dict) for a in crowd)
    assert meta.thing_classes[0] == "person"


def test_catalog_register_get_list_and_errors():
    DatasetCatalog.register("test_catalog_fn", lambda: [{"image_id": 1}])
    assert "test_catalog_fn" in DatasetCatalog.list()
    assert DatasetCatalog.get("test_catalog_fn") == [{"image_id": 1}]
    with pytest.raises(LocalstyleError, match="already registered"):
        DatasetCatalog.register("test_catalog_fn", lambda: [])
    with pytest.raises(LocalstyleError, match="not registered"):
        DatasetCatalog.get("no_such_dataset")
    meta = MetadataCatalog.get("test_catalog_fn").set(thing_classes=["a"])
    meta.thing_classes = ["a"]  # same value is fine
    with pytest.raises(LocalstyleError, match="refusing"):
        meta.thing_classes = ["b"]
    DatasetCatalog.remove("test_catalog_fn")
    assert "test_catalog_fn" not in DatasetCatalog.list()


def test_builtin_names_and_tiny_sets():
    names = set(DatasetCatalog.list())
    assert {"coco_2017_train_person", "coco_2017_val_person", "synthetic_train", "synthetic_val",
            "coco_tiny_train2017", "lizhogn_tiny_train2017", "coco_tiny_person", "lizhogn_tiny_person"} <= names
    assert MetadataCatalog.get("coco_2017_train_person").thing_classes == ["person"]
    assert MetadataCatalog.get("coco_2017_val_person").evaluator_type == "coco"
    person = DatasetCatalog.get("coco_tiny_person")
    api = COCO(TINY_JSON)
    with_person = set(api.getImgIds(catIds=[1]))
    crowd_only = {i for i in with_person
                  if all(a["iscrowd"] for a in api.loadAnns(api.getAnnIds(imgIds=[i], catIds=[1], iscrowd=None)))}
    assert {d["image_id"] for d in person} == with_person - crowd_only
    assert sum(len(d["annotations"]) for d in person) == len(api.getAnnIds(imgIds=list(with_person - crowd_only),
                                                                           catIds=[1]))
    assert all(a["category_id"] == 0 for d in person for a in d["annotations"])
    lizhogn = DatasetCatalog.get("lizhogn_tiny_person")
    assert len(lizhogn) == 26 and sum(len(d["annotations"]) for d in lizhogn) == 99  # PROVENANCE.md counts


def test_missing_builtin_files_name_file_and_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALSTYLE_DATASETS", str(tmp_path))
    with pytest.raises(LocalstyleError) as e:
        DatasetCatalog.get("coco_2017_train_person")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(os.path.join(str(tmp_path), "coco_person", "annotations", "person_train2017.json"))
    assert "python datasets/prepare_coco_person.py --coco-root ROOT" in msg
    with pytest.raises(LocalstyleError, match="make_synthetic.py"):
        DatasetCatalog.get("synthetic_val")


def test_register_datasets_from_cfg_relative_and_idempotent(tmp_path, monkeypatch):
    data = json.load(open(TINY_JSON))
    data["images"] = data["images"][:3]
    ids = {im["id"] for im in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    (tmp_path / "ann.json").write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    cfg = get_cfg()
    cfg.DATASETS.REGISTER_COCO = [["test_cfg_small", "ann.json", os.path.relpath(TINY_IMAGES, tmp_path)]]
    assert register_datasets_from_cfg(cfg) == ["test_cfg_small"]
    assert register_datasets_from_cfg(cfg) == ["test_cfg_small"]  # idempotent
    monkeypatch.chdir(HERE)  # paths were resolved at registration
    dicts = DatasetCatalog.get("test_cfg_small")
    assert len(dicts) == 3 and all(os.path.isfile(d["file_name"]) for d in dicts)
    assert MetadataCatalog.get("test_cfg_small").json_file == str(tmp_path / "ann.json")
    with pytest.raises(LocalstyleError, match="already registered"):
        register_coco_instances("test_cfg_small", {}, TINY_JSON, TINY_IMAGES)
    cfg.DATASETS.REGISTER_COCO = [["bad", "x.json"]]
    with pytest.raises(LocalstyleError, match="REGISTER_COCO"):
        register_datasets_from_cfg(cfg)


def test_invalid_json_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LocalstyleError) as e:
        load_coco_json(bad, tmp_path)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(LocalstyleError, match="not found"):
        load_coco_json(tmp_path / "missing.json", tmp_path)
