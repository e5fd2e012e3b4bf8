"""Semantic segmentation data: COCO instance annotations -> per-pixel class maps (the training mapper is in
``sem_seg_mapper.py``; this module imports no torchvision, so mask sources can use it and start quickly).

Label ``k + 1`` is the k-th name of ``MODEL.SEM_SEG_HEAD.CLASSES`` (matched against the run's class names:
``DATASETS.CLASSES`` or the dataset's ``thing_classes``), 0 is background (every other category too) and crowd
regions of those classes get ``MODEL.SEM_SEG_HEAD.IGNORE_VALUE`` (255), as COCO-Stuff does with unlabeled pixels.
"""
import numpy as np

from localstyle.data.annotations import segmentation_to_mask
from localstyle.data.classes import class_selection
from localstyle.utils.errors import LocalstyleError

# Meta-architectures that train on per-pixel class maps (the others on instances).
SEMANTIC_META_ARCHITECTURES = ("SemanticSegmentor",)


def is_semantic(cfg):
    """Whether ``cfg.MODEL.META_ARCHITECTURE`` is a semantic segmentor."""
    return cfg.MODEL.META_ARCHITECTURE in SEMANTIC_META_ARCHITECTURES


def run_class_names(dataset_name, selected=()):
    """Names of the category ids in a loaded dataset's dicts as a run sees them: ``DATASETS.CLASSES`` (``selected``)
    when set (the loaders renumber to that order), else the dataset's ``thing_classes``."""
    selection = class_selection(dataset_name, selected)
    return list(selection.names) if selection is not None else []


def category_labels(thing_classes, classes, dataset="dataset"):
    """``{contiguous category id: semantic label}`` for the categories named in ``classes`` (label = index + 1)."""
    missing = [c for c in classes if c not in thing_classes]
    if missing:
        raise LocalstyleError(f"{dataset}: classes {missing} (MODEL.SEM_SEG_HEAD.CLASSES) are not among its "
                              f"categories {list(thing_classes)}")
    return {thing_classes.index(name): k + 1 for k, name in enumerate(classes)}


def annotations_to_sem_seg(annotations, height, width, labels, ignore_value=255):
    """H x W uint8 class map: each non-crowd annotation of a category in ``labels`` painted with its label (in
    annotation order), then crowd regions of those categories set to ``ignore_value``; the rest is 0."""
    out = np.zeros((height, width), dtype=np.uint8)
    kept = [a for a in annotations if a["category_id"] in labels]
    for crowd in (False, True):
        for a in kept:
            if bool(a.get("iscrowd", 0)) == crowd:
                mask = segmentation_to_mask(a["segmentation"], height, width).astype(bool)
                out[mask] = ignore_value if crowd else labels[a["category_id"]]
    return out
