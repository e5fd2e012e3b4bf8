"""Batch localized stylization: find instances, style only their crops, composite, write outputs.

For every input image ``<stem>`` the runner writes, into the output folder, ``<stem>.png`` (the
composite), ``<stem>_mask.png`` (the alpha actually used, 0..255), ``<stem>_strip.jpg`` (content |
style | stylized | segmentation | outcome) and an entry in ``manifest.json``. Images are decoded in
DataLoader workers while the previous batch is processed; masks come from the predictor (one
``predict_batch`` per batch) or from a registered dataset's annotations; the style method gets all
regions of a batch that share a style in one ``stylize`` call. Finished images are skipped on a rerun.
"""
import glob
import logging
import os
import re
import time

import cv2
import numpy as np
import torch
from tqdm import tqdm

from localstyle.compose import (blend, build_alpha, comparison_strip, crop_boxes, preserve_color,
                                quantize_alpha, resolve_classes, segmentation_overlay, select_instances)
from localstyle.style.methods import build_style_method
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import IMAGE_EXTENSIONS, read_image, write_image

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
MIN_REGION_SIDE = 32  # VGG needs a few pixels left after its 4-5 poolings


def list_inputs(spec):
    """Image paths for ``spec``: a file, a folder (its images, sorted) or a glob pattern."""
    if os.path.isdir(spec):
        paths = [os.path.join(spec, f) for f in sorted(os.listdir(spec))
                 if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        paths = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if not paths:
        raise LocalstyleError(f"{spec}: no input images (expected a file, a folder of images or a glob)")
    return paths


class _ImageFiles(torch.utils.data.Dataset):
    """Decodes images (RGB uint8) in DataLoader workers; an unreadable file yields its error message."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        t0 = time.perf_counter()
        try:
            image, error = read_image(self.paths[i], "RGB"), None
        except LocalstyleError as e:
            image, error = None, str(e)
        return {"path": self.paths[i], "image": image, "error": error, "decode_s": time.perf_counter() - t0}


class Detections:
    """Instances of one image as numpy arrays: ``classes``, ``scores``, ``boxes`` (XYXY), ``masks``."""

    def __init__(self, classes, scores, boxes, masks):
        self.classes = np.asarray(classes, np.int64).reshape(-1)
        self.scores = np.asarray(scores, np.float64).reshape(-1)
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.masks = np.asarray(masks, bool)

    @classmethod
    def from_instances(cls, inst):
        """From a predictor's ``Instances`` (pred_classes, scores, pred_boxes, pred_masks)."""
        h, w = inst.image_size
        if len(inst) == 0:
            return cls([], [], np.zeros((0, 4)), np.zeros((0, h, w), bool))
        return cls(inst.pred_classes.cpu().numpy(), inst.scores.cpu().numpy(),
                   inst.pred_boxes.tensor.cpu().numpy(), inst.pred_masks.cpu().numpy())

    # the attribute names select_instances expects (detectron2's)
    pred_classes = property(lambda self: self.classes)
    pred_masks = property(lambda self: self.masks)

    def __len__(self):
        return len(self.classes)


def _decode_segmentation(seg, h, w):
    from pycocotools import mask as mask_util

    if isinstance(seg, list):
        rles = mask_util.frPyObjects(seg, h, w)
        return mask_util.decode(mask_util.merge(rles)).astype(bool)
    if isinstance(seg.get("counts"), list):
        seg = mask_util.frPyObjects(seg, h, w)
    return mask_util.decode(seg).astype(bool)


class AnnotationMasks:
    """Instances from a registered dataset's annotations (MASKS.DATASET), matched by file name.

    An input matches a dataset image with the same file name, or else one whose ``image_id`` equals the
    trailing number of the input's stem (``coco_train2017_000000204805.jpg`` -> 204805). Crowd regions
    are not instances and are left out. Scores are 1.
    """

    def __init__(self, cfg):
        from localstyle.data import DatasetCatalog, MetadataCatalog

        name = cfg.MASKS.DATASET
        if not name:
            raise LocalstyleError("MASKS.SOURCE annotations needs MASKS.DATASET (a registered dataset name)")
        if name not in DatasetCatalog.list():
            raise LocalstyleError(f"MASKS.DATASET: dataset {name!r} is not registered "
                                  f"(add it to DATASETS.REGISTER_COCO); known: {sorted(DatasetCatalog.list())}")
        dicts = DatasetCatalog.get(name)
        self.name = name
        self.by_name = {os.path.basename(d["file_name"]): d for d in dicts}
        self.by_id = {d["image_id"]: d for d in dicts}
        self.thing_classes = list(MetadataCatalog.get(name).thing_classes)

    def lookup(self, path):
        base = os.path.basename(path)
        if base in self.by_name:
            return self.by_name[base]
        m = re.search(r"(\d+)$", os.path.splitext(base)[0])
        if m and int(m.group(1)) in self.by_id:
            return self.by_id[int(m.group(1))]
        raise LocalstyleError(f"{path}: no image with this file name (or COCO id) in dataset {self.name!r}")

    def __call__(self, records):
        """One :class:`Detections` (or a :class:`LocalstyleError`) per decoded record."""
        out = []
        for r in records:
            try:
                d = self.lookup(r["path"])
                h, w = r["image"].shape[:2]
                if (d["height"], d["width"]) != (h, w):
                    raise LocalstyleError(f"{r['path']}: image is {w}x{h} but dataset {self.name!r} says "
                                          f"{d['width']}x{d['height']}")
                anns = [a for a in d.get("annotations", []) if not a.get("iscrowd", 0)]
                masks = np.stack([_decode_segmentation(a["segmentation"], h, w) for a in anns]) if anns \
                    else np.zeros((0, h, w), bool)
                boxes = [[x, y, x + bw, y + bh] for x, y, bw, bh in (a["bbox"] for a in anns)]
                out.append(Detections([a["category_id"] for a in anns], np.ones(len(anns)),
                                      np.asarray(boxes, np.float64).reshape(-1, 4), masks))
            except LocalstyleError as e:
                out.append(e)
        return out


class PredictorMasks:
    """Instances from the trained Mask R-CNN (``DefaultPredictor``), a whole batch per call."""

    def __init__(self, cfg):
        from localstyle.engine.predictor import DefaultPredictor

        self.predictor = DefaultPredictor(cfg)
        self.thing_classes = _model_thing_classes(cfg, self.predictor)

    def __call__(self, records):
        outputs = self.predictor.predict_batch([np.ascontiguousarray(r["image"][:, :, ::-1]) for r in records])
        return [Detections.from_instances(o["instances"]) for o in outputs]


def _model_thing_classes(cfg, predictor):
    """Class names of the predictor's model: its metadata, the config's datasets, or the class count."""
    from localstyle.data import MetadataCatalog

    meta = getattr(predictor, "metadata", None)
    if meta is not None and getattr(meta, "thing_classes", None):
        return list(meta.thing_classes)
    for name in list(cfg.DATASETS.TEST) + list(cfg.DATASETS.TRAIN):
        classes = MetadataCatalog.get(name).get("thing_classes")
        if classes:
            return list(classes)
    n = cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if n == 1:
        return ["person"]
    raise LocalstyleError(f"cannot name the model's {n} classes: set DATASETS.TEST to a dataset whose "
                          "metadata has thing_classes")


class StyleBook:
    """Which painting each selected instance gets: STYLE.PER_INSTANCE, else STYLE.PER_CLASS, else STYLE.IMAGE."""

    def __init__(self, cfg):
        self.default = cfg.STYLE.IMAGE
        self.per_instance = list(cfg.STYLE.PER_INSTANCE)
        self.per_class = {}
        for entry in cfg.STYLE.PER_CLASS:
            if not isinstance(entry, (list, tuple)) or len(entry) != 2:
                raise LocalstyleError(f"STYLE.PER_CLASS entries must be [class_name, style_image], got {entry!r}")
            self.per_class[entry[0]] = entry[1]
        if not (self.default or self.per_instance or self.per_class):
            raise LocalstyleError("no style image: set STYLE.IMAGE (or STYLE.PER_CLASS / STYLE.PER_INSTANCE)")
        self._images = {}
        for path in self.paths():
            self.image(path)  # fail early on a missing painting

    def paths(self):
        return [p for p in [self.default, *self.per_instance, *self.per_class.values()] if p]

    def image(self, path):
        """The style image at ``path`` (RGB uint8), read once."""
        if path not in self._images:
            self._images[path] = read_image(path, "RGB")
        return self._images[path]

    def style_for(self, k, class_name):
        """Style path of the ``k``-th selected instance (of class ``class_name``)."""
        if self.per_instance:
            return self.per_instance[k % len(self.per_instance)]
        path = self.per_class.get(class_name, self.default)
        if not path:
            raise LocalstyleError(f"no style for class {class_name!r}: add it to STYLE.PER_CLASS or set STYLE.IMAGE")
        return path


def _resize(image, size_hw, interpolation=None):
    h, w = size_hw
    if image.shape[:2] == (h, w):
        return image
    if interpolation is None:
        interpolation = cv2.INTER_AREA if h < image.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interpolation)


def settings_of(cfg):
    """The settings that decide an output, as recorded in the manifest."""
    keys = ["STYLE.METHOD", "STYLE.SIZE", "STYLE.STRENGTH", "STYLE.PRESERVE_COLOR", "STYLE.SEED", "STYLE.VGG.ARCH",
            "STYLE.VGG.WEIGHTS", "STYLE.GATYS.STEPS", "STYLE.GATYS.SCALES", "STYLE.GATYS.STYLE_WEIGHT",
            "STYLE.GATYS.CONTENT_WEIGHT", "STYLE.GATYS.OPTIMIZER", "MASKS.SOURCE", "MASKS.DATASET", "MASKS.CLASSES",
            "MASKS.SCORE_THRESH", "MASKS.TOP_K", "MASKS.DILATE", "MASKS.FEATHER", "MASKS.INVERT",
            "MASKS.CROP_MARGIN", "MODEL.WEIGHTS"]
    out = {}
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node[part]
        out[key] = list(node) if isinstance(node, tuple) else node
    return out


class StylizeRunner:
    """Runs the whole batch: ``StylizeRunner(cfg, output_dir, overwrite).run(inputs) -> summary dict``."""

    def __init__(self, cfg, output_dir, overwrite=False):
        cfg = cfg.clone()
        cfg.MODEL.DEVICE = resolve_device(cfg)
        self.cfg, self.output_dir, self.overwrite = cfg, output_dir, overwrite
        self.styles = StyleBook(cfg)
        if cfg.MASKS.INVERT and not self.styles.default:
            raise LocalstyleError("MASKS.INVERT styles the background with STYLE.IMAGE: set STYLE.IMAGE")
        source = cfg.MASKS.SOURCE
        if source == "annotations":
            self.masks = AnnotationMasks(cfg)
        elif source == "predictor":
            self.masks = PredictorMasks(cfg)
        else:
            raise LocalstyleError(f"MASKS.SOURCE: unknown source {source!r} (use predictor or annotations)")
        self.thing_classes = self.masks.thing_classes
        self.class_ids = resolve_classes(list(cfg.MASKS.CLASSES), self.thing_classes)
        for name in self.styles.per_class:
            resolve_classes([name], self.thing_classes, "STYLE.PER_CLASS")
        self.method = build_style_method(cfg)
        self.settings = settings_of(cfg)
        self.manifest_path = os.path.join(output_dir, MANIFEST)
        self.manifest = self._load_manifest()

    # ------------------------------------------------------------------ bookkeeping
    def _load_manifest(self):
        import json

        if os.path.isfile(self.manifest_path):
            try:
                with open(self.manifest_path, encoding="utf-8") as f:
                    manifest = json.load(f)
                if isinstance(manifest.get("images"), dict):
                    return manifest
            except (OSError, ValueError):
                pass
            logger.warning("%s: unreadable manifest, starting a new one", self.manifest_path)
        return {"images": {}}

    def output_paths(self, stem):
        """``{"composite", "mask", "strip"}`` output paths of image ``stem`` (strip only if STYLIZE.STRIP)."""
        out = {"composite": os.path.join(self.output_dir, f"{stem}.png"),
               "mask": os.path.join(self.output_dir, f"{stem}_mask.png")}
        if self.cfg.STYLIZE.STRIP:
            out["strip"] = os.path.join(self.output_dir, f"{stem}_strip.jpg")
        return out

    def is_complete(self, stem):
        """All outputs of ``stem`` exist and the manifest has its entry."""
        return stem in self.manifest["images"] and all(os.path.isfile(p) for p in self.output_paths(stem).values())

    # ------------------------------------------------------------------ main loop
    def run(self, inputs):
        """Stylize every path in ``inputs``; returns ``{"done", "skipped", "failed", "seconds"}``."""
        t0 = time.perf_counter()
        os.makedirs(self.output_dir, exist_ok=True)
        stems, todo, failed, skipped = {}, [], [], 0
        for path in inputs:
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem in stems:
                failed.append(path)
                tqdm.write(f"failed: {path}: same output name {stem!r} as {stems[stem]}; skipped")
                continue
            stems[stem] = path
            if not self.overwrite and self.is_complete(stem):
                skipped += 1
            else:
                todo.append(path)
        done = 0
        cfg = self.cfg.STYLIZE
        loader = torch.utils.data.DataLoader(_ImageFiles(todo), batch_size=max(1, cfg.BATCH_SIZE), shuffle=False,
                                             num_workers=cfg.NUM_WORKERS if len(todo) > 1 else 0,
                                             collate_fn=list)
        with tqdm(total=len(todo), desc="stylize", unit="img", dynamic_ncols=True) as bar:
            for batch in loader:
                good = []
                for r in batch:
                    if r["error"]:
                        failed.append(r["path"])
                        tqdm.write(f"failed: {r['error']}; skipped")
                    else:
                        good.append(r)
                for r, result in zip(good, self.process_batch(good)):
                    if isinstance(result, Exception):
                        failed.append(r["path"])
                        tqdm.write(f"failed: {result}; skipped")
                    else:
                        done += 1
                        self.manifest["images"][result["stem"]] = result["entry"]
                if good:
                    self.manifest["settings"] = self.settings
                    atomic_write_json(self.manifest_path, self.manifest, indent=1)
                bar.update(len(batch))
        summary = {"done": done, "skipped": skipped, "failed": len(failed), "failed_files": failed,
                   "seconds": round(time.perf_counter() - t0, 2)}
        print(f"stylize: {done} done, {skipped} skipped (already complete), {len(failed)} failed "
              f"in {summary['seconds']:.1f} s; outputs in {self.output_dir}")
        return summary

    def process_batch(self, records):
        """Masks, style jobs and composites for decoded ``records``; one result or exception per record."""
        if not records:
            return []
        t0 = time.perf_counter()
        dets = self.masks(records)
        mask_s = (time.perf_counter() - t0) / len(records)
        plans = [d if isinstance(d, Exception) else self._plan(r, d) for r, d in zip(records, dets)]
        # every region of the batch that shares a style goes through one stylize() call
        by_style = {}
        for i, plan in enumerate(plans):
            if not isinstance(plan, Exception):
                for job in plan["jobs"]:
                    by_style.setdefault(job["style"], []).append((i, job))
        stylize_s = [0.0] * len(records)
        for style_path, jobs in by_style.items():
            t1 = time.perf_counter()
            outs = self.method.stylize([j["region"] for _, j in jobs], self.styles.image(style_path),
                                       [j["region_alpha"] for _, j in jobs])
            seconds = time.perf_counter() - t1
            pixels = sum(j["region"].shape[0] * j["region"].shape[1] for _, j in jobs)
            for (i, job), out in zip(jobs, outs):
                job["stylized"] = out
                stylize_s[i] += seconds * job["region"].shape[0] * job["region"].shape[1] / max(pixels, 1)
        results = []
        for r, plan, s in zip(records, plans, stylize_s):
            if isinstance(plan, Exception):
                results.append(plan)
                continue
            try:
                results.append(self._finish(r, plan, {"decode_s": r["decode_s"], "masks_s": mask_s, "stylize_s": s}))
            except LocalstyleError as e:
                results.append(e)
        return results

    def _plan(self, record, det):
        """Selected instances, their styles, per-style alphas and the crops to stylize."""
        cfg, image = self.cfg, record["image"]
        h, w = image.shape[:2]
        keep = select_instances(det, self.class_ids, cfg.MASKS.SCORE_THRESH, cfg.MASKS.TOP_K)
        names = [self.thing_classes[c] for c in det.classes]
        groups = {}
        if cfg.MASKS.INVERT:
            if self.styles.default:
                groups[self.styles.default] = list(keep)
        else:
            for k, i in enumerate(keep):
                groups.setdefault(self.styles.style_for(k, names[i]), []).append(i)
        scale = cfg.STYLE.SIZE / max(h, w) if cfg.STYLE.SIZE > 0 else 1.0
        jobs, alphas = [], []
        for style_path, idx in groups.items():
            alpha = build_alpha(det.masks[idx], cfg.MASKS.DILATE, cfg.MASKS.FEATHER, cfg.MASKS.INVERT, (h, w))
            alpha = quantize_alpha(alpha * cfg.STYLE.STRENGTH)
            alphas.append(alpha)
            for box in crop_boxes(alpha, cfg.MASKS.CROP_MARGIN):
                x0, y0, x1, y1 = box
                size = (max(MIN_REGION_SIDE, round((y1 - y0) * scale)), max(MIN_REGION_SIDE, round((x1 - x0) * scale)))
                a = alpha[y0:y1, x0:x1]
                jobs.append({"style": style_path, "box": box, "alpha": a, "size": size,
                             "region": _resize(image[y0:y1, x0:x1], size),
                             "region_alpha": _resize(a, size, cv2.INTER_LINEAR)})
        styles_of = {i: s for s, idx in groups.items() for i in idx}
        return {"det": det, "keep": keep, "names": names, "jobs": jobs, "alphas": alphas, "styles_of": styles_of}

    def _finish(self, record, plan, timings):
        """Composite, write the outputs atomically and return the manifest entry."""
        t0 = time.perf_counter()
        cfg, image, det = self.cfg, record["image"], plan["det"]
        h, w = image.shape[:2]
        outcome, stylized_view = image.copy(), image.copy()
        for job in plan["jobs"]:
            x0, y0, x1, y1 = job["box"]
            styl = _resize(job["stylized"], (y1 - y0, x1 - x0), cv2.INTER_LINEAR)
            if cfg.STYLE.PRESERVE_COLOR:
                styl = preserve_color(styl, image[y0:y1, x0:x1])
            outcome[y0:y1, x0:x1] = blend(outcome[y0:y1, x0:x1], styl, job["alpha"])
            stylized_view[y0:y1, x0:x1] = styl
        used = np.zeros((h, w), np.float32)
        for a in plan["alphas"]:
            used = 1.0 - (1.0 - used) * (1.0 - a)
        used = quantize_alpha(used)
        stem = os.path.splitext(os.path.basename(record["path"]))[0]
        paths = self.output_paths(stem)
        write_image(paths["composite"], outcome)
        write_image(paths["mask"], np.round(used * 255).astype(np.uint8))
        keep, names = plan["keep"], plan["names"]
        if "strip" in paths:
            labels = [f"{names[i]} {det.scores[i]:.2f}" for i in keep]
            seg = segmentation_overlay(image, det.masks[keep], det.boxes[keep], labels)
            styles = [self.styles.image(p) for p in dict.fromkeys(j["style"] for j in plan["jobs"])] \
                or [self.styles.image(p) for p in self.styles.paths()[:1]]
            write_image(paths["strip"], comparison_strip(image, styles, stylized_view, seg, outcome))
        timings["compose_write_s"] = time.perf_counter() - t0
        timings["total_s"] = sum(timings.values())
        instances = [{"class": names[i], "score": round(float(det.scores[i]), 4),
                      "box": [round(float(v), 1) for v in det.boxes[i]], "area": int(det.masks[i].sum()),
                      "style": plan["styles_of"].get(i)} for i in keep]
        entry = {"input": os.path.abspath(record["path"]), "size": [w, h],
                 "outputs": {k: os.path.basename(p) for k, p in paths.items()},
                 "instances": instances, "styles": sorted({j["style"] for j in plan["jobs"]}),
                 "regions": [{"box": list(j["box"]), "processed_size": list(j["size"][::-1]), "style": j["style"]}
                             for j in plan["jobs"]],
                 "settings": self.settings, "timings": {k: round(v, 3) for k, v in timings.items()}}
        return {"stem": stem, "entry": entry}
