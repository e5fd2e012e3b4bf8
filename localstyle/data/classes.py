"""Which categories a run uses (``DATASETS.CLASSES``) and whether they fit the model.

A dataset's dicts carry contiguous category ids into its metadata's ``thing_classes``. :func:`select_classes`
keeps the annotations of the listed classes only and renumbers them in the listed order, so a raw COCO json
(80 categories) trains a person model with ``DATASETS.CLASSES ["person"]``. Used by the detection loaders
and, for the same meaning of the key, by any other task reading registered datasets.
"""
import dataclasses
import logging

from localstyle.data.catalog import MetadataCatalog
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ClassSelection:
    """The classes a run uses: ``names[k]`` is contiguous class ``k``; ``dataset_ids[k]`` its dataset
    category id (None when the dataset has no id mapping); ``source_index[k]`` its index among the dataset's
    ``num_source`` classes."""

    dataset: str
    names: tuple
    dataset_ids: tuple
    source_index: tuple
    num_source: int

    @property
    def is_identity(self):
        """True when the selection keeps every class of the dataset in its own order."""
        return self.source_index == tuple(range(self.num_source))

    def class_to_dataset_id(self):
        """``{contiguous class: dataset category id}``, or None if the dataset ids are unknown."""
        if any(i is None for i in self.dataset_ids):
            return None
        return dict(enumerate(self.dataset_ids))


def class_selection(dataset_name, classes=()):
    """The :class:`ClassSelection` of ``classes`` (names; empty: all) in a loaded dataset's metadata."""
    meta = MetadataCatalog.get(dataset_name)
    thing_classes = meta.get("thing_classes")
    if thing_classes is None:
        if classes:
            raise LocalstyleError(f"dataset {dataset_name!r}: DATASETS.CLASSES needs its thing_classes metadata, "
                                  f"which it does not have")
        return None
    id_map = meta.get("thing_dataset_id_to_contiguous_id") or {}
    to_dataset_id = {v: k for k, v in id_map.items()}
    wanted = list(classes) or list(thing_classes)
    missing = [c for c in wanted if c not in thing_classes]
    if missing:
        raise LocalstyleError(f"dataset {dataset_name!r}: DATASETS.CLASSES {missing} not among its "
                              f"{len(thing_classes)} categories ({_short(thing_classes)})")
    if len(set(wanted)) != len(wanted):
        raise LocalstyleError(f"DATASETS.CLASSES {wanted}: a class is listed twice")
    index = tuple(thing_classes.index(c) for c in wanted)
    return ClassSelection(dataset_name, tuple(wanted), tuple(to_dataset_id.get(i) for i in index), index,
                          len(thing_classes))


def select_classes(dicts, selection):
    """Copies of ``dicts`` keeping only the selected classes' annotations, renumbered to the selection order.

    Images are kept even when they lose all their annotations (the training loader's
    ``FILTER_EMPTY_ANNOTATIONS`` drops them). Logs how many annotations were left out.
    """
    if selection is None or selection.is_identity:
        return dicts
    renumber = {old: new for new, old in enumerate(selection.source_index)}
    out, dropped = [], 0
    for d in dicts:
        anns = d.get("annotations", [])
        kept = [{**a, "category_id": renumber[a["category_id"]]} for a in anns if a["category_id"] in renumber]
        dropped += len(anns) - len(kept)
        out.append({**d, "annotations": kept})
    logger.info(f"Dataset {selection.dataset!r}: kept classes {list(selection.names)}; left out {dropped} "
                f"annotations of other classes")
    return out


def check_num_classes(dataset_name, selection, dicts, num_classes, listed=False):
    """One-line error if the dataset's classes (after selection) do not match ``MODEL.ROI_HEADS.NUM_CLASSES``;
    without class names, only category ids beyond the model's classes are an error. ``listed``: the classes
    come from DATASETS.CLASSES, so the advice is to fit NUM_CLASSES to them."""
    if selection is not None:
        n, what = len(selection.names), f"has {len(selection.names)} classes"
    else:
        n = _max_category(dicts) + 1
        what = f"uses category ids up to {n - 1}"
        if n <= num_classes:
            return
    if n != num_classes and listed:
        raise LocalstyleError(
            f"dataset {dataset_name!r}: DATASETS.CLASSES selects {n} classes ({_short(list(selection.names))}) but "
            f"MODEL.ROI_HEADS.NUM_CLASSES is {num_classes}; set MODEL.ROI_HEADS.NUM_CLASSES {n}")
    if n != num_classes:
        raise LocalstyleError(
            f"dataset {dataset_name!r} {what} but MODEL.ROI_HEADS.NUM_CLASSES is {num_classes}; set DATASETS.CLASSES "
            f"to the class names to train (e.g. [\"person\"]) or MODEL.ROI_HEADS.NUM_CLASSES {n}")


def _max_category(dicts):
    return max((a["category_id"] for d in dicts for a in d.get("annotations", [])), default=-1)


def _short(names, n=6):
    return ", ".join(names[:n]) + (f", ... (+{len(names) - n})" if len(names) > n else "")
