"""Built-in dataset names, registered on ``import localstyle.data``.

- ``coco_2017_{train,val}_person``: ``<root>/coco_person/annotations/person_{split}2017.json``; images in
  ``<root>/coco_person/{split}2017`` if it exists (it must hold the ``.complete`` marker that the prepare
  script writes last), else the ``image_root`` recorded in ``<root>/coco_person/report.json`` (the original
  COCO folder).
- ``coco_2017_{train,val}``: ``<root>/coco/annotations/instances_{split}2017.json``, images ``<root>/coco/{split}2017``.
- ``synthetic_{train,val}``: ``<root>/synthetic/annotations/instances_{split}.json``, images ``<root>/synthetic/{split}``.

The small real COCO subsets of the repository's ``tests/data`` are registered by the test suite
(``tests/conftest.py``), not here: the library does not depend on its test folder.

``<root>`` is ``$LOCALSTYLE_DATASETS`` (default ``./datasets``), read when a dataset is loaded.
A missing file raises a one-line :class:`LocalstyleError` naming the file and the command that creates it.
"""
import os

from localstyle.data.catalog import DatasetCatalog, MetadataCatalog
from localstyle.data.coco import load_coco_json
from localstyle.data.person_subset import COMPLETE_MARKER, PREPARE_COMMAND, REPORT_NAME, read_json
from localstyle.utils.errors import LocalstyleError

SYNTHETIC_CLASSES = ["person", "ball"]


def datasets_root():
    """``$LOCALSTYLE_DATASETS`` or ``./datasets``."""
    return os.environ.get("LOCALSTYLE_DATASETS", "datasets")


def _require(path, command):
    if not os.path.exists(path):
        raise LocalstyleError(f"{path}: not found; create it with: {command}")
    return path


def _person_paths(split):
    base = os.path.join(datasets_root(), "coco_person")
    return os.path.join(base, "annotations", f"person_{split}.json"), os.path.join(base, split)


def _coco_paths(split):
    base = os.path.join(datasets_root(), "coco")
    return os.path.join(base, "annotations", f"instances_{split}.json"), os.path.join(base, split)


def _synthetic_paths(split):
    base = os.path.join(datasets_root(), "synthetic")
    return os.path.join(base, "annotations", f"instances_{split}.json"), os.path.join(base, split)


def _load(name, json_file, image_root):
    MetadataCatalog.get(name).reset(json_file=json_file, image_root=image_root)
    return load_coco_json(json_file, image_root, name)


def _load_person_2017(name, split):
    json_file, image_root = _person_paths(split)
    base = os.path.dirname(image_root)
    _require(json_file, f"{PREPARE_COMMAND} --output {base} --splits {split}")
    if os.path.isdir(image_root) and not os.path.isfile(os.path.join(image_root, COMPLETE_MARKER)):
        raise LocalstyleError(f"{image_root}: incomplete image folder (an interrupted --link-images run); rerun: "
                              f"{PREPARE_COMMAND} --output {base} --splits {split} --link-images symlink")
    if not os.path.isdir(image_root):
        report = read_json(_require(os.path.join(base, REPORT_NAME), f"{PREPARE_COMMAND} --output {base}"))
        image_root = report.get("splits", {}).get(split, {}).get("image_root")
        if not image_root or not os.path.isdir(image_root):
            raise LocalstyleError(f"{os.path.join(base, split)}: image folder not found and {base}/report.json "
                                  f"records none for {split}; rerun: {PREPARE_COMMAND} --output {base} "
                                  f"--link-images symlink")
    return _load(name, json_file, image_root)


def _load_coco_2017(name, split):
    json_file, image_root = _coco_paths(split)
    for path in (json_file, image_root):
        _require(path, "download COCO 2017 as described in datasets/README.md")
    return _load(name, json_file, image_root)


def _load_synthetic(name, split):
    json_file, image_root = _synthetic_paths(split)
    for path in (json_file, image_root):
        _require(path, f"python datasets/make_synthetic.py --output {os.path.dirname(image_root)}")
    return _load(name, json_file, image_root)


def register_all_builtin():
    """Register every built-in dataset name (called once on ``import localstyle.data``)."""
    person = {"thing_classes": ["person"], "thing_dataset_id_to_contiguous_id": {1: 0}}
    synthetic = {"thing_classes": SYNTHETIC_CLASSES, "thing_dataset_id_to_contiguous_id": {1: 0, 2: 1}}
    for split in ("train2017", "val2017"):
        short = split[:-4]
        entries = [(f"coco_2017_{short}_person", _load_person_2017, _person_paths, person),
                   (f"coco_2017_{short}", _load_coco_2017, _coco_paths, {})]
        entries.append((f"synthetic_{short}", _load_synthetic, _synthetic_paths, synthetic))
        for name, loader, paths, meta in entries:
            s = short if loader is _load_synthetic else split
            DatasetCatalog.register(name, lambda n=name, f=loader, s=s: f(n, s))
            json_file, image_root = paths(s)
            MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco", **meta)
