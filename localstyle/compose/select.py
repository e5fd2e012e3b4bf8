"""Choosing which instances get styled: by class name, score threshold and the largest k."""
import numpy as np

from localstyle.utils.errors import LocalstyleError


def resolve_classes(names, thing_classes, source="MASKS.CLASSES"):
    """Contiguous class ids of ``names`` in ``thing_classes``; unknown names raise, listing valid ones."""
    thing_classes = list(thing_classes)
    unknown = [n for n in names if n not in thing_classes]
    if unknown:
        raise LocalstyleError(f"{source}: unknown class name(s) {unknown}; this model/dataset has {thing_classes}")
    return [thing_classes.index(n) for n in names]


def select_instances(instances, class_ids, score_thresh=0.0, top_k=0):
    """Indices of the instances to style: class in ``class_ids``, score >= threshold, largest ``top_k``.

    ``instances`` is a :class:`~localstyle.masks.base.Detections` (``classes``, ``scores``, ``masks``). Indices come
    back in the instances' order (the largest k are chosen by mask area; 0 keeps all).
    """
    if len(instances) == 0:
        return []
    classes = np.asarray(instances.classes).astype(np.int64)
    scores = np.asarray(instances.scores, dtype=np.float64)
    keep = np.isin(classes, list(class_ids)) & (scores >= score_thresh)
    idx = np.flatnonzero(keep)
    if top_k and len(idx) > top_k:
        areas = np.asarray(instances.masks).reshape(len(instances), -1).sum(1)[idx]
        idx = np.sort(idx[np.argsort(-areas, kind="stable")[:top_k]])
    return idx.tolist()
