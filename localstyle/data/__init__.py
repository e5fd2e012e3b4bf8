"""Datasets: registry, COCO loading, the person subset, synthetic data, transforms and loaders.

Importing this package registers the built-in dataset names (see :mod:`localstyle.data.builtin`).
"""
import os

from localstyle.data.builtin import register_all_builtin
from localstyle.data.catalog import DatasetCatalog, Metadata, MetadataCatalog
from localstyle.data.coco import BoxMode, load_coco_json, register_coco_instances
from localstyle.utils.errors import LocalstyleError


def register_datasets_from_cfg(cfg):
    """Register ``cfg.DATASETS.REGISTER_COCO`` entries ``[[name, json_file, image_root], ...]``.

    Relative paths are resolved against the current directory. Idempotent: registering an entry again with
    the same paths does nothing. Returns the registered names.
    """
    names = []
    for entry in cfg.DATASETS.REGISTER_COCO:
        if not isinstance(entry, (list, tuple)) or len(entry) != 3:
            raise LocalstyleError(f"DATASETS.REGISTER_COCO entries must be [name, json_file, image_root], "
                                  f"got {entry!r}")
        name, json_file, image_root = entry
        register_coco_instances(name, {}, os.path.abspath(json_file), os.path.abspath(image_root))
        names.append(name)
    return names


def resolve_dataset(name=None, cfg=None):
    """``(name, dataset_dicts, metadata)`` of a registered dataset: ``name``, else ``cfg.DATASETS.TEST[0]``;
    ``cfg``'s DATASETS.REGISTER_COCO entries are registered first."""
    if cfg is not None:
        register_datasets_from_cfg(cfg)
        name = name or (cfg.DATASETS.TEST[0] if cfg.DATASETS.TEST else None)
    if not name:
        raise LocalstyleError("no dataset given: pass --dataset NAME (or a --config-file with DATASETS.TEST)")
    dicts = DatasetCatalog.get(name)
    return name, dicts, MetadataCatalog.get(name)


register_all_builtin()

__all__ = ["BoxMode", "DatasetCatalog", "Metadata", "MetadataCatalog", "load_coco_json",
           "register_coco_instances", "register_datasets_from_cfg", "resolve_dataset"]
