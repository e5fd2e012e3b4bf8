"""COCO instance JSON -> detectron2 dataset dicts, and :func:`register_coco_instances`."""
import contextlib
import enum
import io
import logging
import os

from localstyle.data.catalog import DatasetCatalog, MetadataCatalog
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)


class BoxMode(enum.IntEnum):
    """detectron2's box encodings (only the absolute ones are used)."""

    XYXY_ABS = 0
    XYWH_ABS = 1


def load_coco_api(json_file):
    """Load ``json_file`` with pycocotools (quietly); a missing or malformed file raises :class:`LocalstyleError`."""
    from pycocotools.coco import COCO

    json_file = os.fspath(json_file)
    if not os.path.isfile(json_file):
        raise LocalstyleError(f"{json_file}: annotation file not found")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(json_file)
    except (ValueError, KeyError, TypeError) as e:
        raise LocalstyleError(f"{json_file}: not a valid COCO annotation file ({type(e).__name__}: {e})") from None
    except AssertionError:  # pycocotools asserts the top level is a dict
        raise LocalstyleError(f"{json_file}: not a valid COCO annotation file (its top level must be an object with "
                              f"'images', 'annotations' and 'categories')") from None


def coco_api_to_dicts(coco_api, image_root, source="<memory>"):
    """Convert a loaded pycocotools ``COCO`` object to dataset dicts (category ids made contiguous 0-based).

    Returns ``(dataset_dicts, metadata)`` where metadata holds ``thing_classes``,
    ``thing_dataset_id_to_contiguous_id`` and ``dropped_annotations`` (``{reason: count}``). As in detectron2,
    polygons with fewer than 3 points are dropped; so are boxes with zero or negative width or height (the
    image stays).
    """
    cats = sorted(coco_api.dataset.get("categories", []), key=lambda c: c["id"])
    if not cats:
        raise LocalstyleError(f"{source}: no categories")
    id_map = {c["id"]: i for i, c in enumerate(cats)}
    dropped = {}
    dicts = []
    for img_id in sorted(coco_api.imgs):
        img = coco_api.imgs[img_id]
        annotations = []
        for ann in coco_api.imgToAnns.get(img_id, []):
            if ann.get("ignore", 0):
                continue
            reason = _unusable(ann, id_map, source)
            if reason is not None:
                dropped[reason] = dropped.get(reason, 0) + 1
                continue
            seg = ann.get("segmentation")
            if isinstance(seg, list):
                seg = [p for p in seg if len(p) % 2 == 0 and len(p) >= 6]
            annotations.append({
                "id": ann.get("id"),
                "bbox": list(ann["bbox"]),
                "bbox_mode": BoxMode.XYWH_ABS,
                "segmentation": seg,
                "category_id": id_map[ann["category_id"]],
                "iscrowd": int(ann.get("iscrowd", 0)),
            })
        dicts.append({
            "file_name": os.path.join(image_root, img["file_name"]),
            "height": img["height"],
            "width": img["width"],
            "image_id": img_id,
            "annotations": annotations,
        })
    meta = {"thing_classes": [c["name"] for c in cats], "thing_dataset_id_to_contiguous_id": id_map,
            "dropped_annotations": dropped}
    return dicts, meta


def _unusable(ann, id_map, source):
    """Why ``ann`` cannot be trained on (None if it can); an unknown category is an error."""
    if ann.get("category_id") not in id_map:
        raise LocalstyleError(f"{source}: annotation {ann.get('id')} has unknown category_id "
                              f"{ann.get('category_id')}")
    bbox = ann.get("bbox")
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        raise LocalstyleError(f"{source}: annotation {ann.get('id')} has no [x, y, width, height] bbox")
    if bbox[2] <= 0 or bbox[3] <= 0:
        return "box with zero or negative width or height"
    seg = ann.get("segmentation")
    if isinstance(seg, list) and not any(len(p) % 2 == 0 and len(p) >= 6 for p in seg):
        return "polygon with fewer than 3 points"
    return None


def load_coco_json(json_file, image_root, dataset_name=None):
    """Load a COCO instances JSON into detectron2 dataset dicts.

    If ``dataset_name`` is given, its :data:`MetadataCatalog` entry receives ``thing_classes``,
    ``thing_dataset_id_to_contiguous_id`` and ``dropped_annotations``; dropped annotations are logged
    once per dataset (every time without a name).
    """
    dicts, meta = coco_api_to_dicts(load_coco_api(json_file), os.fspath(image_root), os.fspath(json_file))
    metadata = MetadataCatalog.get(dataset_name) if dataset_name is not None else None
    if meta["dropped_annotations"] and (metadata is None or metadata.get("dropped_annotations") is None):
        counts = ", ".join(f"{n} ({reason})" for reason, n in sorted(meta["dropped_annotations"].items()))
        logger.warning(f"Dataset {dataset_name or json_file}: dropped {counts} annotations of {json_file}")
    if metadata is not None:
        metadata.set(**meta)
    return dicts


def register_coco_instances(name, metadata, json_file, image_root):
    """Register a COCO-format instances dataset under ``name`` (detectron2's signature).

    ``metadata`` (dict) is stored with ``json_file``, ``image_root`` and ``evaluator_type="coco"``.
    Registering the same name again with the same paths is a no-op; with different paths it is an error.
    """
    json_file, image_root = os.fspath(json_file), os.fspath(image_root)
    if name in DatasetCatalog:
        meta = MetadataCatalog.get(name)
        if meta.get("json_file") == json_file and meta.get("image_root") == image_root:
            return
        raise LocalstyleError(f"dataset {name!r} is already registered with json_file="
                              f"{meta.get('json_file')!r}, image_root={meta.get('image_root')!r}")
    DatasetCatalog.register(name, lambda: load_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco", **metadata)
