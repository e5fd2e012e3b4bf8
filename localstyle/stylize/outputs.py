"""What a stylize run writes: per-image output paths, the composite/mask/strip files, and ``manifest.json``."""
import json
import logging
import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from localstyle.compose import blend, comparison_strip, preserve_color, segmentation_overlay, union_alpha
from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import resize_image, write_image

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
# What decides an output: every STYLE and MASKS key, plus these.
SETTINGS_SECTIONS = ("STYLE", "MASKS")
SETTINGS_KEYS = ("MODEL.WEIGHTS", "DATASETS.CLASSES")


def settings_of(cfg):
    """The settings that decide an output, as recorded in the manifest (JSON types: lists, not tuples)."""
    out = {}
    for section in SETTINGS_SECTIONS:
        out.update(_flatten(cfg[section], f"{section}."))
    for key in SETTINGS_KEYS:
        node = cfg
        for part in key.split("."):
            node = node[part]
        out[key] = node
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
    def videos(self):
        """Clip entries (written by :mod:`localstyle.video`), by stem."""
        return self.data.setdefault("videos", {})

    def save(self, settings):
        """Write the manifest atomically with the run's ``settings``."""
        self.data["settings"] = settings
        atomic_write_json(self.path, self.data, indent=1)


def composite(image, plan, stylized, preserve):
    """``(outcome, stylized_view, used_alpha)``: the plan's stylized regions blended into ``image``; the view shows
    each stylized crop, unmasked, on a faded copy of the photo (the strip's "stylized crop" panel)."""
    outcome = image.copy()
    stylized_view = cv2.addWeighted(image, 0.35, np.full_like(image, 255), 0.65, 0)
    for region, out in zip(plan.regions, stylized):
        x0, y0, x1, y1 = region.box
        styl = resize_image(out, y1 - y0, x1 - x0, interpolation=cv2.INTER_LINEAR)
        if preserve:
            styl = preserve_color(styl, image[y0:y1, x0:x1])
        outcome[y0:y1, x0:x1] = blend(outcome[y0:y1, x0:x1], styl, region.alpha)
        stylized_view[y0:y1, x0:x1] = styl
    return outcome, stylized_view, union_alpha(plan.alphas, image.shape[:2])


def write_outputs(paths, image, plan, stylized, styles, preserve):
    """Composite ``plan`` into ``image`` and write the files of ``paths`` atomically."""
    outcome, stylized_view, used = composite(image, plan, stylized, preserve)
    write_image(paths.composite, outcome)
    write_image(paths.mask, np.round(used * 255).astype(np.uint8))
    if paths.strip:
        det, keep = plan.detections, plan.keep
        labels = [f"{plan.names[i]} {det.scores[i]:.2f}" for i in keep]
        seg = segmentation_overlay(image, det.masks[keep], det.boxes[keep], labels)
        used_styles = [styles.image(p) for p in dict.fromkeys(r.style for r in plan.regions)] \
            or [styles.image(p) for p in styles.paths()[:1]]
        write_image(paths.strip, comparison_strip(image, used_styles, stylized_view, seg, outcome))


def manifest_entry(path, image, plan, paths, settings, timings):
    """The manifest entry of one finished image."""
    det, h, w = plan.detections, image.shape[0], image.shape[1]
    instances = [{"class": plan.names[i], "score": round(float(det.scores[i]), 4),
                  "box": [round(float(v), 1) for v in det.boxes[i]], "area": int(det.masks[i].sum()),
                  "style": plan.style_of.get(i)} for i in plan.keep]
    return {"input": os.path.abspath(path), "size": [w, h],
            "outputs": {k: os.path.basename(p) for k, p in paths.as_dict().items()},
            "instances": instances, "styles": sorted({r.style for r in plan.regions}),
            "regions": [{"box": list(r.box), "processed_size": list(r.size[::-1]), "style": r.style}
                        for r in plan.regions],
            "settings": settings, "timings": {k: round(v, 3) for k, v in timings.items()}}
