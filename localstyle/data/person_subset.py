"""Full COCO 2017 -> person-only subset: filtering, image checks, optional linking, and a drop report.

The filter streams the instances JSON (:mod:`localstyle.data.json_stream`, ijson): one pass builds everything
but the annotations (images, categories, info, ...), a second one streams the annotations and keeps the person
ones serialized (orjson), so the peak memory stays far below a whole-file load (train2017's 448 MB file takes
about 4 GB as Python objects). Image presence is checked with one directory listing per split.
"""
import array
import dataclasses
import os
import re
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import orjson

from localstyle.data.json_stream import iter_items, read_top_level
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open



def load_json_bytes(data):
    """Parse JSON bytes (orjson)."""
    return orjson.loads(data)


def dump_json_bytes(obj):
    """Serialize to JSON bytes (orjson)."""
    return orjson.dumps(obj)


JSON_LIBRARY = "orjson"
LINK_MODES = ("none", "symlink", "copy")
PREPARE_COMMAND = "python datasets/prepare_coco_person.py --coco-root ROOT"
REPORT_NAME = "report.json"
# Written last into a linked image folder: without it the folder is from an interrupted run.
COMPLETE_MARKER = ".complete"
_FIELDS = {"images": ("id", "file_name"), "annotations": ("image_id", "category_id"), "categories": ("id", "name")}


def read_json(path):
    """Load a JSON file (fast library); a missing or malformed file raises :class:`LocalstyleError`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return load_json_bytes(f.read())
    except FileNotFoundError:
        raise LocalstyleError(f"{path}: not found") from None
    except ValueError as e:
        raise LocalstyleError(f"{path}: invalid JSON ({e})") from None


def write_json(path, obj):
    """Write ``obj`` as JSON atomically (fast library)."""
    with atomic_open(path, "wb") as f:
        f.write(dump_json_bytes(obj))


def check_coco_item(section, index, item, source):
    """One-line :class:`LocalstyleError` unless ``item`` (element ``index`` of ``section``: images, annotations
    or categories) is an object with the fields the filter reads."""
    fields = _FIELDS[section]
    if not isinstance(item, dict) or any(f not in item for f in fields):
        what = item.get("id", f"#{index}") if isinstance(item, dict) else f"#{index}"
        missing = [f for f in fields if not isinstance(item, dict) or f not in item]
        raise LocalstyleError(f"{source}: {section[:-1]} {what} has no {' / '.join(missing)}")


def check_coco_shape(header, source):
    """One-line :class:`LocalstyleError` unless ``header`` (a COCO file's top-level values as
    :func:`~localstyle.data.json_stream.read_top_level` gives them, ``annotations`` skipped) has lists of
    images and categories with the fields the filter reads, and a list of annotations (checked as they stream)."""
    kind = header.get("annotations", "list")
    if kind != "list":
        raise LocalstyleError(f"{source}: 'annotations' must be a list, got {kind}")
    for section in ("images", "categories"):
        items = header.get(section, [])
        if not isinstance(items, list):
            raise LocalstyleError(f"{source}: '{section}' must be a list, got {type(items).__name__}")
        for i, item in enumerate(items):
            check_coco_item(section, i, item, source)


@dataclasses.dataclass
class PersonSubset:
    """The person subset of a COCO file, ready to write: ``header`` holds the input's other top-level values
    (``info``, ``licenses``, ...) in input order; the person annotations are serialized in the binary temporary
    file ``spool``: those of image ``i`` at ``offsets[a:b]`` (``lengths[a:b]`` bytes) for ``(a, b) = spans[i]``,
    in input order. (Few long-lived objects: small ones kept among the parser's garbage fragment the heap.)"""

    header: dict
    images: list
    spool: object
    offsets: np.ndarray
    lengths: np.ndarray
    crowd: np.ndarray
    spans: dict
    category: dict

    def num_annotations(self, image_id=None):
        """Person annotations of ``image_id``, or of all kept images."""
        if image_id is not None:
            return self.spans[image_id][1] - self.spans[image_id][0]
        return sum(self.num_annotations(im["id"]) for im in self.images)

    def num_crowd(self, image_id=None):
        """Crowd person annotations of ``image_id``, or of all kept images."""
        if image_id is not None:
            return int(self.crowd[slice(*self.spans[image_id])].sum())
        return sum(self.num_crowd(im["id"]) for im in self.images)

    def drop_images(self, bad):
        """Remove the images whose id is in ``bad`` (and their annotations)."""
        self.images = [im for im in self.images if im["id"] not in bad]

    def write(self, path):
        """Write atomically; the bytes equal a whole-dict dump of ``{**header, images, annotations, categories}``."""
        with atomic_open(path, "wb") as f:
            f.write(b"{")
            for key, value in self.header.items():
                f.write(dump_json_bytes(key) + b":" + dump_json_bytes(value) + b",")
            f.write(b'"images":' + dump_json_bytes(self.images) + b',"annotations":[')
            first = True
            for im in self.images:
                a, b = self.spans[im["id"]]
                for offset, length in zip(self.offsets[a:b].tolist(), self.lengths[a:b].tolist()):
                    self.spool.seek(offset)
                    f.write(self.spool.read(length) if first else b"," + self.spool.read(length))
                    first = False
            f.write(b'],"categories":' + dump_json_bytes([self.category]) + b"}")


def select_person(header, annotations, source="<memory>", keep_crowd_only=False, image_ok=None):
    """Filter a COCO file, given as its top-level values except ``annotations`` (``header``) and an iterable
    of annotations (streamed), to person annotations; the inputs are not modified.

    ``image_ok(image) -> None | reason`` may veto images (missing/undecodable file). Returns
    ``(subset, drops, num_annotations)``: a :class:`PersonSubset` with the single category person (id 1),
    only images with >= 1 person annotation (crowd-only images unless ``keep_crowd_only``) in input order;
    ``drops`` lists ``{"reason", "file", "image_id", "annotations"}`` records, one per dropped image
    (``file`` is None for annotations whose image entry is missing); ``num_annotations`` counts all input ones.
    """
    check_coco_shape(header, source)
    persons = [c for c in header.get("categories", []) if c.get("name") == "person"]
    if not persons:
        raise LocalstyleError(f"{source}: no 'person' category")
    pid = persons[0]["id"]
    images = header.get("images", [])
    image_ids = {img["id"] for img in images}
    spool = tempfile.TemporaryFile()
    columns = {k: array.array("q") for k in ("image", "offset", "length", "crowd")}
    orphans, total, offset = {}, 0, 0
    for ann in annotations:
        check_coco_item("annotations", total, ann, source)
        total += 1
        if ann["category_id"] != pid:
            continue
        if ann["image_id"] not in image_ids:
            orphans[ann["image_id"]] = orphans.get(ann["image_id"], 0) + 1
            continue
        data = dump_json_bytes(ann if pid == 1 else {**ann, "category_id": 1})
        spool.write(data)
        for key, value in zip(columns, (ann["image_id"], offset, len(data), bool(ann.get("iscrowd", 0)))):
            columns[key].append(value)
        offset += len(data)
    image_of, offsets, lengths, crowd = (np.frombuffer(c, dtype=np.int64) for c in columns.values())
    order = np.argsort(image_of, kind="stable")
    image_of, bounds = np.unique(image_of[order], return_index=True)
    spans = dict(zip(image_of.tolist(), zip(bounds.tolist(), bounds[1:].tolist() + [len(order)])))
    drops = [{"reason": "image entry missing", "file": None, "image_id": img_id, "annotations": n}
             for img_id, n in orphans.items()]
    header = {k: v for k, v in header.items() if k not in ("images", "annotations", "categories")}
    subset = PersonSubset(header, [], spool, offsets[order], lengths[order], crowd[order], spans,
                          {**persons[0], "id": 1})
    for img in images:
        if img["id"] not in spans:
            continue
        n = subset.num_annotations(img["id"])
        reason = image_ok(img) if image_ok is not None else None
        if reason is None and not keep_crowd_only and subset.num_crowd(img["id"]) == n:
            reason = "crowd only"
        if reason is not None:
            drops.append({"reason": reason, "file": img["file_name"], "image_id": img["id"], "annotations": n})
        else:
            subset.images.append(img)
    return subset, drops, total


def check_image_file(path, width=None, height=None):
    """Return None if ``path`` decodes fully (PIL verify + load) at the expected size, else a reason string."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            im.load()
            size = im.size
    except Exception as e:  # noqa: BLE001 - any decoder failure means "undecodable"
        return f"undecodable image ({type(e).__name__}: {e})"
    if width is not None and size != (width, height):
        return f"size mismatch (file {size[0]}x{size[1]}, json {width}x{height})"
    return None


def _check_many(items):
    return [check_image_file(*item) for item in items]


def _check_images(image_dir, images, workers, split):
    """Decode every image in parallel (tqdm progress); returns {image_id: reason} for the bad ones."""
    from tqdm import tqdm

    items = [(os.path.join(image_dir, im["file_name"]), im["width"], im["height"]) for im in images]
    chunk = 64
    chunks = [items[i:i + chunk] for i in range(0, len(items), chunk)]
    bad = {}
    with tqdm(total=len(items), desc=f"checking {split} images", unit="img") as bar:
        if workers <= 1:
            results = map(_check_many, chunks)
        else:
            pool = ProcessPoolExecutor(workers)
            results = pool.map(_check_many, chunks)
        for start, res in zip(range(0, len(items), chunk), results):
            for im, reason in zip(images[start:start + chunk], res):
                if reason is not None:
                    bad[im["id"]] = reason
            bar.update(len(res))
        if workers > 1:
            pool.shutdown()
    return bad


def _listing(image_dir):
    """File names directly inside ``image_dir`` (one scandir instead of one stat per image)."""
    try:
        with os.scandir(image_dir) as it:
            return {e.name for e in it}
    except FileNotFoundError:
        raise LocalstyleError(f"{image_dir}: image directory not found") from None


def _link(src, dst, mode):
    """Make ``dst`` a symlink to / copy of ``src`` atomically; an up-to-date ``dst`` is left alone."""
    if mode == "symlink":
        if os.path.islink(dst) and os.readlink(dst) == src:
            return
        tmp = f"{dst}.tmp{os.getpid()}"
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(src, tmp)
        os.replace(tmp, dst)
    else:
        if not os.path.islink(dst) and os.path.isfile(dst) and os.path.getsize(dst) == os.path.getsize(src):
            return
        with atomic_open(dst, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)


def _inside(root, name, source):
    """``root/name``, refusing names (``../x.jpg``, absolute paths) that lead outside ``root``."""
    path = os.path.normpath(os.path.join(root, name))
    if os.path.isabs(name) or not path.startswith(os.path.join(root, "")):
        raise LocalstyleError(f"{source}: image file_name {name!r} leads outside {root}")
    return path


def _remove_stray_temp_files(folder):
    """Delete temp files an interrupted run left (``.NAME.*.tmp`` from atomic writes, ``NAME.tmpPID`` links)."""
    for dirpath, _, files in os.walk(folder):
        for name in files:
            if (name.startswith(".") and name.endswith(".tmp")) or re.search(r"\.tmp\d+$", name):
                os.remove(os.path.join(dirpath, name))


def _link_all(images, image_dir, out_images, mode, source):
    """Link or copy every image into ``out_images``; :data:`COMPLETE_MARKER` is written only at the end."""
    from tqdm import tqdm

    marker = os.path.join(out_images, COMPLETE_MARKER)
    os.makedirs(out_images, exist_ok=True)
    if os.path.exists(marker):
        os.remove(marker)
    _remove_stray_temp_files(out_images)
    for im in tqdm(images, desc=f"{mode} {os.path.basename(out_images)} images", unit="img"):
        dst = _inside(out_images, im["file_name"], source)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        _link(_inside(image_dir, im["file_name"], source), dst, mode)
    with atomic_open(marker, "w", encoding="utf-8") as f:
        f.write(f"{len(images)} images\n")


def prepare_split(coco_root, output, split, check_images=False, link_images="none", keep_crowd_only=False,
                  workers=1):
    """Build ``output/annotations/person_{split}.json`` (and ``output/{split}/`` when linking); returns the report."""
    if link_images not in LINK_MODES:
        raise LocalstyleError(f"--link-images must be one of {LINK_MODES}, got {link_images!r}")
    coco_root, output = os.path.abspath(coco_root), os.path.abspath(output)
    src_json = os.path.join(coco_root, "annotations", f"instances_{split}.json")
    image_dir = os.path.join(coco_root, split)
    if not os.path.isfile(src_json):
        raise LocalstyleError(f"{src_json}: not found (expected COCO 2017 layout ROOT/annotations/"
                              f"instances_{split}.json; see datasets/README.md)")
    header = read_top_level(src_json, skip="annotations")
    present = _listing(image_dir)

    def file_present(img):
        name = img["file_name"]
        found = name in present if os.sep not in name and "/" not in name else \
            os.path.isfile(os.path.join(image_dir, name))
        return None if found else "image file missing"

    subset, drops, num_annotations = select_person(header, iter_items(src_json, "annotations"), src_json,
                                                   keep_crowd_only, file_present)
    totals = {"images_total": len(header.get("images", [])), "annotations_total": num_annotations}
    del header
    if check_images:
        bad = _check_images(image_dir, subset.images, workers, split)
        if bad:
            drops += [{"reason": bad[im["id"]], "file": im["file_name"], "image_id": im["id"],
                       "annotations": subset.num_annotations(im["id"])} for im in subset.images if im["id"] in bad]
            subset.drop_images(bad)
    if not subset.images:
        subset.spool.close()
        reasons = sorted({d["reason"].split(" (")[0] for d in drops})
        raise LocalstyleError(f"{src_json}: no image with a person annotation is left ({num_annotations} annotations "
                              f"read{'; dropped: ' + ', '.join(reasons) if reasons else ''}); nothing written for "
                              f"{split}: check that it is COCO's instances_{split}.json")
    out_json = os.path.join(output, "annotations", f"person_{split}.json")
    subset.write(out_json)
    subset.spool.close()
    out_images = image_dir
    if link_images != "none":
        out_images = os.path.join(output, split)
        _link_all(subset.images, image_dir, out_images, link_images, src_json)
    for d in drops:
        if d["file"] is not None:
            d["file"] = os.path.join(image_dir, d["file"])
    dropped_images, dropped_anns = {}, {}
    for d in drops:
        key = d["reason"].split(" (")[0]
        dropped_images[key] = dropped_images.get(key, 0) + (d["file"] is not None)
        dropped_anns[key] = dropped_anns.get(key, 0) + d["annotations"]
    return {
        "json_file": out_json,
        "image_root": out_images,
        "link_images": link_images,
        **totals,
        "kept_images": len(subset.images),
        "kept_annotations": subset.num_annotations(),
        "crowd_annotations": subset.num_crowd(),
        "dropped_images": dropped_images,
        "dropped_annotations": dropped_anns,
        "drops": drops,
    }


def prepare_person_subset(coco_root, output, splits=("train2017", "val2017"), check_images=False,
                          link_images="none", keep_crowd_only=False, workers=1):
    """Run :func:`prepare_split` for each split and merge the results into ``output/report.json``.

    The report records, per split, where the kept images live (``image_root``: ``output/{split}`` when
    linked, otherwise the original ``coco_root/{split}``); the built-in ``coco_2017_*_person`` datasets read it.
    Entries of splits not processed in this run are kept, so running split by split is safe.
    """
    report_path = os.path.join(output, REPORT_NAME)
    old = read_json(report_path) if os.path.isfile(report_path) else {}
    report = {"coco_root": os.path.abspath(coco_root), "splits": dict(old.get("splits", {}))}
    results = {}
    for split in splits:
        results[split] = prepare_split(coco_root, output, split, check_images, link_images, keep_crowd_only,
                                       workers)
        results[split].update(coco_root=report["coco_root"], check_images=bool(check_images),
                              keep_crowd_only=bool(keep_crowd_only))
    report["splits"].update(results)
    write_json(report_path, report)
    return report


def format_report(report, splits=None, max_drops=50):
    """A plain-text table of the counts, then one line per drop (the first ``max_drops``; all are in the JSON)."""
    splits = splits or list(report["splits"])
    reasons = sorted({r for s in splits for r in report["splits"][s]["dropped_annotations"]})
    cols = ["kept_images", "kept_annotations", "crowd_annotations"]
    header = ["split"] + cols + [f"dropped anns: {r}" for r in reasons]
    rows = [header]
    for s in splits:
        r = report["splits"][s]
        rows.append([s] + [str(r[c]) for c in cols]
                    + [f"{r['dropped_annotations'].get(x, 0)} ({r['dropped_images'].get(x, 0)} img)"
                       for x in reasons])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    drops = [(s, d) for s in splits for d in report["splits"][s]["drops"]]
    for s, d in drops[:max_drops]:
        where = d["file"] if d["file"] is not None else f"image id {d['image_id']} (no image entry)"
        lines.append(f"dropped [{s}] {where}: {d['reason']} ({d['annotations']} person annotations)")
    if len(drops) > max_drops:
        lines.append(f"... {len(drops) - max_drops} more drops listed in report.json")
    return "\n".join(lines)
