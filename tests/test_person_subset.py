"""COCO -> person subset (datasets/prepare_coco_person.py) on the real COCO dev sets, checked with pycocotools."""
import json
import os
import shutil
import subprocess
import sys

import orjson
import pytest
from pycocotools.coco import COCO

from localstyle.data import DatasetCatalog, load_coco_json
from localstyle.data.person_subset import prepare_person_subset
from localstyle.utils.errors import LocalstyleError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEV = os.path.join(HERE, "data", "coco_dev")
SETS = ["coco_tiny_train2017", "lizhogn_tiny_coco_train2017"]


def expected(json_file, missing=()):
    """Independent pycocotools computation of the kept images / annotations."""
    api = COCO(json_file)
    keep = []
    for img_id in api.getImgIds(catIds=[1]):
        if api.imgs[img_id]["file_name"] in missing:
            continue
        anns = api.loadAnns(api.getAnnIds(imgIds=[img_id], catIds=[1], iscrowd=None))
        if not all(a["iscrowd"] for a in anns):
            keep.append(img_id)
    anns = api.loadAnns(api.getAnnIds(imgIds=keep, catIds=[1], iscrowd=None))
    return set(keep), {a["id"] for a in anns}, sum(a["iscrowd"] for a in anns)


def copy_set(src, dst, images=None):
    """A tmp COCO root (annotations + train2017) with all or only some images."""
    os.makedirs(os.path.join(dst, "train2017"))
    shutil.copytree(os.path.join(src, "annotations"), os.path.join(dst, "annotations"))
    for name in images if images is not None else os.listdir(os.path.join(src, "train2017")):
        shutil.copy(os.path.join(src, "train2017", name), os.path.join(dst, "train2017", name))
    return dst


@pytest.mark.parametrize("name", SETS)
def test_counts_match_pycocotools(tmp_path, name):
    root = os.path.join(DEV, name)
    report = prepare_person_subset(root, tmp_path, ["train2017"])["splits"]["train2017"]
    images, ann_ids, crowd = expected(os.path.join(root, "annotations", "instances_train2017.json"))
    out = COCO(str(tmp_path / "annotations" / "person_train2017.json"))
    assert set(out.getImgIds()) == images and set(out.getAnnIds()) == ann_ids
    assert [c["id"] for c in out.dataset["categories"]] == [1] and out.dataset["categories"][0]["name"] == "person"
    assert report["kept_images"] == len(images) and report["kept_annotations"] == len(ann_ids)
    assert report["crowd_annotations"] == crowd == 3  # PROVENANCE.md: 3 person crowd regions per set
    assert report["image_root"] == os.path.join(root, "train2017")  # no linking: the original folder
    assert all(d["reason"] == "crowd only" for d in report["drops"])
    # masks decode for every kept annotation
    assert all(out.annToMask(a).any() for a in out.dataset["annotations"])


def test_missing_and_corrupt_images_are_reported(tmp_path):
    src = os.path.join(DEV, "coco_tiny_train2017")
    root = copy_set(src, str(tmp_path / "coco"))
    api = COCO(os.path.join(root, "annotations", "instances_train2017.json"))
    person_imgs = [api.imgs[i]["file_name"] for i in sorted(api.getImgIds(catIds=[1]))]
    deleted, corrupt, truncated = person_imgs[0], person_imgs[1], person_imgs[2]
    os.remove(os.path.join(root, "train2017", deleted))
    with open(os.path.join(root, "train2017", corrupt), "r+b") as f:  # garble the entropy-coded data
        f.seek(2000)
        f.write(os.urandom(3000))
    path = os.path.join(root, "train2017", truncated)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    # without --check-images only the missing file is detected
    plain = prepare_person_subset(root, tmp_path / "plain", ["train2017"])["splits"]["train2017"]
    missing = {d["file"] for d in plain["drops"] if d["reason"] != "crowd only"}
    assert missing == {os.path.join(root, "train2017", deleted)}
    out = tmp_path / "checked"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "datasets", "prepare_coco_person.py"),
                           "--coco-root", root, "--output", str(out), "--splits", "train2017", "--check-images",
                           "--workers", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.load(open(out / "report.json"))["splits"]["train2017"]
    reasons = {os.path.basename(d["file"]): d["reason"] for d in report["drops"]}
    assert reasons[deleted] == "image file missing"
    assert reasons[corrupt].startswith("undecodable image") and reasons[truncated].startswith("undecodable image")
    for name in (deleted, corrupt, truncated):
        assert name in proc.stdout  # printed with its reason
    assert report["dropped_images"]["image file missing"] == 1 and report["dropped_images"]["undecodable image"] == 2
    images, ann_ids, _ = expected(os.path.join(root, "annotations", "instances_train2017.json"),
                                  missing={deleted, corrupt, truncated})
    kept = COCO(str(out / "annotations" / "person_train2017.json"))
    assert set(kept.getImgIds()) == images and set(kept.getAnnIds()) == ann_ids
    assert report["dropped_annotations"]["undecodable image"] == sum(
        len(api.getAnnIds(imgIds=[i], catIds=[1], iscrowd=None))
        for i in api.getImgIds() if api.imgs[i]["file_name"] in (corrupt, truncated))
    assert "kept_images" in proc.stdout and "dropped anns: undecodable image" in proc.stdout


def test_orphan_annotations_and_keep_crowd_only(tmp_path):
    root = copy_set(os.path.join(DEV, "lizhogn_tiny_coco_train2017"), str(tmp_path / "coco"))
    ann_file = os.path.join(root, "annotations", "instances_train2017.json")
    data = json.load(open(ann_file))
    data["annotations"].append({**next(a for a in data["annotations"] if a["category_id"] == 1),
                                "id": 999999999, "image_id": 123456789})
    json.dump(data, open(ann_file, "w"))
    report = prepare_person_subset(root, tmp_path / "a", ["train2017"])["splits"]["train2017"]
    assert report["dropped_annotations"]["image entry missing"] == 1
    assert any(d["image_id"] == 123456789 and d["file"] is None for d in report["drops"])
    crowd_only = report["dropped_images"].get("crowd only", 0)
    keep = prepare_person_subset(root, tmp_path / "b", ["train2017"], keep_crowd_only=True)["splits"]["train2017"]
    assert keep["kept_images"] == report["kept_images"] + crowd_only
    assert "crowd only" not in keep["dropped_images"]


def test_rerun_is_idempotent_and_failures_leave_outputs_intact(tmp_path):
    root = os.path.join(DEV, "coco_tiny_train2017")
    out = tmp_path / "out"
    prepare_person_subset(root, out, ["train2017"])
    first = {p: open(out / p, "rb").read() for p in ("annotations/person_train2017.json", "report.json")}
    prepare_person_subset(root, out, ["train2017"])
    assert {p: open(out / p, "rb").read() for p in first} == first
    # a failing run (second split missing) keeps the earlier outputs complete and leaves no temp files
    with pytest.raises(LocalstyleError, match="instances_val2017.json: not found"):
        prepare_person_subset(root, out, ["train2017", "val2017"])
    assert {p: open(out / p, "rb").read() for p in first} == first
    assert sorted(os.listdir(out)) == ["annotations", "report.json"]
    assert os.listdir(out / "annotations") == ["person_train2017.json"]


@pytest.mark.parametrize("mode", ["symlink", "copy"])
def test_link_modes(tmp_path, mode):
    root = os.path.join(DEV, "lizhogn_tiny_coco_train2017")
    out = tmp_path / "out"
    for _ in range(2):  # second run finds everything up to date
        report = prepare_person_subset(root, out, ["train2017"], link_images=mode)["splits"]["train2017"]
    assert report["image_root"] == str(out / "train2017")
    files = sorted(set(os.listdir(out / "train2017")) - {".complete"})
    dicts = load_coco_json(out / "annotations" / "person_train2017.json", out / "train2017")
    assert files == sorted(os.path.basename(d["file_name"]) for d in dicts) and len(files) == report["kept_images"]
    for name in files:
        dst, src = out / "train2017" / name, os.path.join(root, "train2017", name)
        assert os.path.islink(dst) == (mode == "symlink")
        assert open(dst, "rb").read() == open(src, "rb").read()


def test_builtin_person_dataset_uses_report_image_root(tmp_path, monkeypatch):
    root = os.path.join(DEV, "coco_tiny_train2017")
    prepare_person_subset(root, tmp_path / "coco_person", ["train2017"])
    monkeypatch.setenv("LOCALSTYLE_DATASETS", str(tmp_path))
    dicts = DatasetCatalog.get("coco_2017_train_person")
    assert len(dicts) == 40 and all(os.path.isfile(d["file_name"]) for d in dicts)
    assert os.path.dirname(dicts[0]["file_name"]) == os.path.join(root, "train2017")
    with pytest.raises(LocalstyleError, match="person_val2017.json: not found; create it with"):
        DatasetCatalog.get("coco_2017_val_person")


def test_committed_tiny_person_files_are_current(tmp_path):
    """tests/data/coco_dev/*_person were made by the (whole-file) prepare script; the streaming one writes the
    same bytes."""
    for name in SETS:
        prepare_person_subset(os.path.join(DEV, name), tmp_path / name, ["train2017"])
        fresh = open(tmp_path / name / "annotations" / "person_train2017.json", "rb").read()
        committed = open(os.path.join(DEV, f"{name}_person", "annotations", "person_train2017.json"), "rb").read()
        assert fresh == committed


def test_streaming_output_equals_whole_file_dump(tmp_path):
    """Person id 7, keys in an unusual order, an extra top-level key: same bytes as dumping the filtered dict."""
    root = copy_set(os.path.join(DEV, "lizhogn_tiny_coco_train2017"), str(tmp_path / "coco"))
    ann_file = os.path.join(root, "annotations", "instances_train2017.json")
    data = json.load(open(ann_file))
    swap = {1: 7, 7: 1}
    for c in data["categories"]:
        c["id"] = swap.get(c["id"], c["id"])
    for a in data["annotations"]:
        a["category_id"] = swap.get(a["category_id"], a["category_id"])
    licenses = data.pop("licenses")
    data = {"extra": {"a": [1.5, 2e-7, "é"]}, **data, "licenses": licenses}
    open(ann_file, "w").write(json.dumps(data, indent=1))
    prepare_person_subset(root, tmp_path / "out", ["train2017"])
    person = {a["image_id"]: [] for a in data["annotations"] if a["category_id"] == 7}
    for a in data["annotations"]:
        if a["category_id"] == 7:
            person[a["image_id"]].append({**a, "category_id": 1})
    images = [im for im in data["images"] if not all(a["iscrowd"] for a in person.get(im["id"], [{"iscrowd": 1}]))]
    expected = {"extra": data["extra"], "type": data["type"], "info": data["info"], "licenses": licenses,
                "images": images, "annotations": [a for im in images for a in person[im["id"]]],
                "categories": [{**next(c for c in data["categories"] if c["id"] == 7), "id": 1}]}
    assert open(tmp_path / "out" / "annotations" / "person_train2017.json", "rb").read() == orjson.dumps(expected)
    open(ann_file, "w").write(json.dumps(data)[:-100])
    with pytest.raises(LocalstyleError, match="instances_train2017.json: invalid JSON"):
        prepare_person_subset(root, tmp_path / "bad", ["train2017"])
