"""What a stylize run writes: per-image output paths, the composite/mask/strip files, and ``manifest.json``."""
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from localstyle.compose import (blend, comparison_strip, preserve_color, quantize_alpha, segmentation_overlay,
                                union_alpha)
from localstyle.config.keys import lookup
from localstyle.utils.digests import FileDigests
from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import resize_image, write_image

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
# What decides an output: every STYLE and MASKS key, plus these.
SETTINGS_SECTIONS = ("STYLE", "MASKS")
SETTINGS_KEYS = ("MODEL.WEIGHTS", "DATASETS.CLASSES")
# With a model making the masks: every key of these sections but where the model runs and how weights may load
MODEL_SECTIONS = ("MODEL", "INPUT")
MODEL_KEYS_IGNORED = ("MODEL.DEVICE", "MODEL.WEIGHTS_TRUSTED", "MODEL.WEIGHTS_ALLOW_MISSING")
# Keys naming files whose content decides an output (besides the style images)
FILE_KEYS = ("MODEL.WEIGHTS", "MODEL.EXPORTED", "STYLE.WEIGHTS", "STYLE.VGG.WEIGHTS", "MASKS.SEMANTIC_CONFIG",
             "MASKS.SEMANTIC_WEIGHTS")


def settings_of(cfg, digests=None):
    """The settings that decide an output, as recorded in the manifest (JSON types: lists, not tuples): every
    STYLE and MASKS key, MODEL.WEIGHTS and DATASETS.CLASSES; when a model makes the masks (MASKS.SOURCE other than
    ``annotations``), ``MODEL+INPUT``: a digest of every MODEL and INPUT key that changes its predictions (and
    TEST.DETECTIONS_PER_IMAGE); ``files``: the content digest (sha256, through the :class:`FileDigests` cache
    ``digests``) of each local file the settings name: style images, weights, DATASETS.REGISTER_COCO jsons."""
    digests = digests or FileDigests()
    out = {}
    for section in SETTINGS_SECTIONS:
        out.update(_flatten(cfg[section], f"{section}."))
    for key in SETTINGS_KEYS:
        out[key] = lookup(cfg, key)
    if cfg.MASKS.SOURCE != "annotations":
        model = {k: v for s in MODEL_SECTIONS for k, v in _flatten(cfg[s], f"{s}.") if k not in MODEL_KEYS_IGNORED}
        model["TEST.DETECTIONS_PER_IMAGE"] = cfg.TEST.DETECTIONS_PER_IMAGE
        text = json.dumps(model, sort_keys=True, default=str)
        out["MODEL+INPUT"] = hashlib.sha256(text.encode()).hexdigest()[:16]
    styles = [cfg.STYLE.IMAGE, *cfg.STYLE.PER_INSTANCE,
              *(e[1] for e in cfg.STYLE.PER_CLASS if isinstance(e, (list, tuple)) and len(e) == 2)]
    datasets = [e[1] for e in cfg.DATASETS.REGISTER_COCO if isinstance(e, (list, tuple)) and len(e) == 3]
    paths = dict.fromkeys([*styles, *(lookup(cfg, k) for k in FILE_KEYS), *datasets])
    out["files"] = {p: digests(p) for p in paths if isinstance(p, str) and p and os.path.isfile(p)}
    return json.loads(json.dumps(out))


def _flatten(node, prefix):
    """``(full key, value)`` pairs of a config section."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@dataclass
class OutputPaths:
    """Output files of one image: ``<stem>.png``, ``<stem>_mask.png`` and (if STYLIZE.STRIP) ``<stem>_strip.jpg``."""

    composite: str
    mask: str
    strip: Optional[str] = None

    @classmethod
    def of(cls, output_dir, stem, strip=True):
        join = os.path.join
        return cls(join(output_dir, f"{stem}.png"), join(output_dir, f"{stem}_mask.png"),
                   join(output_dir, f"{stem}_strip.jpg") if strip else None)

    def as_dict(self):
        """``{"composite", "mask"[, "strip"]}`` -> path, the files this image has."""
        return {k: p for k, p in vars(self).items() if p is not None}


class Manifest:
    """``manifest.json`` of an output folder: ``{"images": {stem: entry}, "settings": ...}``; unreadable -> new."""

    def __init__(self, output_dir):
        self.path = os.path.join(output_dir, MANIFEST)
        self.data = self._load()

    def _load(self):
        if os.path.isfile(self.path):
            try:
                with open(self.path, encoding="utf-8") as f:
                    manifest = json.load(f)
                if isinstance(manifest, dict) and isinstance(manifest.setdefault("images", {}), dict):
                    return manifest  # may also hold "videos" (localstyle.video)
            except (OSError, ValueError):
                pass
            logger.warning("%s: unreadable manifest, starting a new one", self.path)
        return {"images": {}}

    @property
    def images(self):
        return self.data["images"]

    @property
    def digests(self):
        """The :class:`FileDigests` cache kept in the manifest (inputs, style images, weights)."""
        known = self.data.get("digests")
        if not isinstance(known, dict):
            known = self.data["digests"] = {}
        return FileDigests(known)

    @property
    def videos(self):
        """Clip entries (written by :mod:`localstyle.video`), by stem."""
        return self.data.setdefault("videos", {})

    def save(self, settings):
        """Write the manifest atomically with the run's ``settings``."""
        self.data["settings"] = settings
        atomic_write_json(self.path, self.data, indent=1)


BAND_ROWS = 512  # a big crop is blended in bands of rows: bounded float temporaries


def composite(image, plan, stylized, preserve):
    """``(outcome, stylized_view, used_alpha)``: the plan's stylized regions blended into ``image`` at its full
    size (a plan made on a working copy has its regions and alphas scaled up, alphas back on the 1/255 grid); the
    view shows each stylized crop, unmasked, on a faded copy of the photo (the strip's "stylized crop" panel)."""
    outcome = image.copy()
    stylized_view = cv2.addWeighted(image, 0.35, np.full_like(image, 255), 0.65, 0)
    for region, out in zip(plan.regions, stylized):
        x0, y0, x1, y1 = plan.to_full(region.box)
        styl = resize_image(out, y1 - y0, x1 - x0, interpolation=cv2.INTER_LINEAR)
        alpha = resize_image(region.alpha, y1 - y0, x1 - x0, interpolation=cv2.INTER_LINEAR)
        for top in range(0, y1 - y0, BAND_ROWS):
            rows, band = slice(y0 + top, min(y1, y0 + top + BAND_ROWS)), slice(top, top + BAND_ROWS)
            s = preserve_color(styl[band], image[rows, x0:x1]) if preserve else styl[band]
            a = quantize_alpha(alpha[band]) if plan.scaled else alpha[band]
            outcome[rows, x0:x1] = blend(outcome[rows, x0:x1], s, a)
            stylized_view[rows, x0:x1] = s
    used = union_alpha(plan.alphas, plan.shape)
    if plan.scaled:
        used = quantize_alpha(resize_image(used, *image.shape[:2], interpolation=cv2.INTER_LINEAR))
    return outcome, stylized_view, used


def write_outputs(paths, image, plan, stylized, styles, preserve):
    """Composite ``plan`` into ``image`` and write the files of ``paths`` atomically (the comparison strip, a
    preview, from the working resolution)."""
    outcome, stylized_view, used = composite(image, plan, stylized, preserve)
    write_image(paths.composite, outcome)
    write_image(paths.mask, np.round(used * 255).astype(np.uint8))
    if paths.strip:
        del used
        image, stylized_view, outcome = (resize_image(a, *plan.shape) for a in (image, stylized_view, outcome))
        det, keep = plan.detections, plan.keep
        labels = [f"{plan.names[i]} {det.scores[i]:.2f}" for i in keep]
        seg = segmentation_overlay(image, det.masks[keep], det.boxes[keep], labels)
        used_styles = [styles.image(p) for p in dict.fromkeys(r.style for r in plan.regions)] \
            or [styles.image(p) for p in styles.paths()[:1]]
        write_image(paths.strip, comparison_strip(image, used_styles, stylized_view, seg, outcome))


def manifest_entry(path, image, plan, paths, settings, timings, input_sha256=None):
    """The manifest entry of one finished image (``input_sha256``: the content digest of its input file)."""
    det, h, w = plan.detections, image.shape[0], image.shape[1]
    sx, sy = w / plan.shape[1], h / plan.shape[0]  # working image -> photo (1 unless STYLIZE.MAX_SIZE scaled it)
    instances = [{"class": plan.names[i], "score": round(float(det.scores[i]), 4),
                  "box": [round(float(v), 1) for v in det.boxes[i] * [sx, sy, sx, sy]],
                  "area": int(round(det.masks[i].sum() * sx * sy)), "style": plan.style_of.get(i)} for i in plan.keep]
    return {"input": os.path.abspath(path), "input_sha256": input_sha256, "size": [w, h],
            "outputs": {k: os.path.basename(p) for k, p in paths.as_dict().items()},
            "instances": instances, "styles": sorted({r.style for r in plan.regions}),
            "regions": [{"box": list(plan.to_full(r.box)), "processed_size": list(r.size[::-1]), "style": r.style}
                        for r in plan.regions],
            "settings": settings, "timings": {k: round(v, 3) for k, v in timings.items()}}
