"""A procedural COCO-format instance-segmentation set: stick-figure people (+ balls) on noisy backgrounds.

Every image is generated from ``numpy.random.default_rng([seed, split, index])`` so the set is identical for
a seed. People are head disc + torso ellipse + two legs + two arms, each a polygon of the instance's
``segmentation``; objects are large, saturated and never overlap, so a tiny Mask R-CNN can learn them on CPU.
Some images have a crowd region (``iscrowd=1``, uncompressed RLE as in COCO) covering a cluster of small people.
"""
import colorsys
import os

import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import write_image

CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"},
              {"id": 2, "name": "ball", "supercategory": "sports"}]
SPLITS = {"train": 0, "val": 1}


def _ellipse(cx, cy, rx, ry, n=20):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _limb(x0, y0, x1, y1, width):
    d = np.array([x1 - x0, y1 - y0], dtype=float)
    n = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9) * width / 2
    return np.array([[x0, y0] + n, [x1, y1] + n, [x1, y1] - n, [x0, y0] - n])


def person_polygons(cx, top, h, rng):
    """Polygons (arrays of x, y points) of a person of height ``h`` whose head top is at (cx, top)."""
    leg_w, arm_w = 0.09 * h, 0.07 * h
    hip, shoulder = top + 0.55 * h, top + 0.27 * h
    spread = rng.uniform(0.05, 0.16) * h
    arm_dx = rng.uniform(0.15, 0.26) * h
    arm_dy = rng.uniform(-0.05, 0.25) * h
    return [
        _ellipse(cx, top + 0.1 * h, 0.1 * h, 0.1 * h, 16),
        _ellipse(cx, top + 0.38 * h, 0.14 * h, 0.2 * h, 20),
        _limb(cx - 0.06 * h, hip, cx - spread, top + h - leg_w / 2, leg_w),
        _limb(cx + 0.06 * h, hip, cx + spread, top + h - leg_w / 2, leg_w),
        _limb(cx - 0.1 * h, shoulder, cx - arm_dx, shoulder + arm_dy, arm_w),
        _limb(cx + 0.1 * h, shoulder, cx + arm_dx, shoulder + arm_dy, arm_w),
    ]


def _clip_polys(polys, size):
    return [[round(float(v), 2) for v in np.clip(p, 0, size - 1).ravel()] for p in polys]


def _uncompressed_rle(mask):
    """COCO's uncompressed RLE (``counts`` list, column-major runs starting with zeros)."""
    flat = np.asarray(mask, dtype=np.uint8).ravel(order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {"size": list(mask.shape), "counts": counts}


def _bright_colour(rng):
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.0))
    return np.array([r, g, b]) * 255


def _background(size, rng):
    c0, c1 = (np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.15, 0.5))) * 255
              for _ in range(2))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / (t.max() - t.min() + 1e-9)
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    return img + rng.normal(0, 10, img.shape)


def _place(size, w, h, boxes, rng, margin=4, tries=50):
    """A top-left corner for a w x h box not overlapping ``boxes`` (with margin), or None."""
    for _ in range(tries):
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        if all(x + w + margin < b[0] or b[2] + margin < x or y + h + margin < b[1] or b[3] + margin < y
               for b in boxes):
            return x, y
    return None


def make_image(size, rng):
    """One image (H x W x 3 uint8 RGB) and its annotations (without ids) drawn from ``rng``."""
    img = _background(size, rng)
    anns, boxes = [], []

    def add(polys, category_id, colour, iscrowd=0, mask=None):
        if mask is None:
            segmentation = _clip_polys(polys, size)
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, size, size))
            mask = mask_utils.decode(rle).astype(bool)
        else:
            segmentation = _uncompressed_rle(mask)
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        shade = 1 + rng.normal(0, 0.04, (int(mask.sum()), 1))
        img[mask] = colour * shade
        anns.append({"category_id": category_id, "segmentation": segmentation, "iscrowd": iscrowd,
                     "area": float(mask_utils.area(rle)), "bbox": [round(float(v), 2) for v in mask_utils.toBbox(rle)]})

    if rng.uniform() < 0.25:  # a crowd of small people annotated as one RLE region
        n, hs = int(rng.integers(4, 7)), rng.uniform(0.14, 0.2) * size
        w, h = n * 0.5 * hs, hs
        pos = _place(size, w, h, boxes, rng)
        if pos is not None:
            mask = np.zeros((size, size), dtype=bool)
            for k in range(n):
                polys = person_polygons(pos[0] + (k + 0.5) * 0.5 * hs, pos[1], hs, rng)
                rle = mask_utils.merge(mask_utils.frPyObjects(_clip_polys(polys, size), size, size))
                mask |= mask_utils.decode(rle).astype(bool)
            add(None, 1, _bright_colour(rng), iscrowd=1, mask=mask)
            boxes.append((pos[0], pos[1], pos[0] + w, pos[1] + h))
    for _ in range(int(rng.integers(1, 4))):
        h = rng.uniform(0.35, 0.6) * size
        w = 0.55 * h
        pos = _place(size, w, h, boxes, rng)
        if pos is None:
            continue
        add(person_polygons(pos[0] + w / 2, pos[1], h, rng), 1, _bright_colour(rng))
        boxes.append((pos[0], pos[1], pos[0] + w, pos[1] + h))
    if rng.uniform() < 0.5:
        r = rng.uniform(0.07, 0.12) * size
        pos = _place(size, 2 * r, 2 * r, boxes, rng)
        if pos is not None:
            add([_ellipse(pos[0] + r, pos[1] + r, r, r, 24)], 2, _bright_colour(rng))
            boxes.append((pos[0], pos[1], pos[0] + 2 * r, pos[1] + 2 * r))
    return np.clip(img, 0, 255).astype(np.uint8), anns


def make_split(output, split, num_images, size, seed):
    """Write ``output/{split}/*.png`` and ``output/annotations/instances_{split}.json``; returns the JSON path."""
    images, annotations = [], []
    for i in tqdm(range(num_images), desc=f"synthetic {split}", unit="img", leave=False):
        rng = np.random.default_rng([seed, SPLITS[split], i])
        img, anns = make_image(size, rng)
        file_name = f"{i:06d}.png"
        write_image(os.path.join(output, split, file_name), img)
        images.append({"id": i + 1, "file_name": file_name, "height": size, "width": size, "license": 0})
        for a in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, **a})
    json_file = os.path.join(output, "annotations", f"instances_{split}.json")
    atomic_write_json(json_file, {
        "info": {"description": f"localstyle synthetic people, seed {seed}, size {size}"},
        "licenses": [], "images": images, "annotations": annotations, "categories": CATEGORIES})
    return json_file


def make_synthetic(output, num_train=64, num_val=16, size=192, seed=0):
    """Generate the train and val splits under ``output``; returns ``{split: json_file}``."""
    return {split: make_split(output, split, n, size, seed)
            for split, n in (("train", num_train), ("val", num_val)) if n > 0}
