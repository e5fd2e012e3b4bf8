#!/usr/bin/env python
"""How well the shipped person model finds people on COCO photos it never saw, through the whole stylize pipeline.

    python benchmarks/bench_person_model.py [--output output/bench_person_model] [--config-file FILE] [KEY VALUE ...]

Runs ``stylize_net.py`` (default: configs/stylize/person_default.yaml, the shipped model) on the held-out photos of
datasets/person_model/person_heldout.json (COCO train2017 photos outside the model's training set), then compares
each written ``<stem>_mask.png`` (alpha > 127) with the union of the photo's COCO person masks: person IoU over all
photos with people (intersections and unions summed), its per-photo mean, and the share of pixels masked on photos
without people. Also the model's CPU time per 640 px photo (predictor only, after a warm-up).
Ends with ``result: person_iou value=X target>=0.55`` and ``result: empty_photo_masked value=X target<=0.05``.
"""
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors

HELDOUT = os.path.join("datasets", "person_model", "person_heldout.json")
IMAGE_ROOT = os.path.join("tests", "data", "coco_dev")
DEFAULT_CONFIG = os.path.join("configs", "stylize", "person_default.yaml")
STYLIZE_NET = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "stylize_net.py")


def person_union(coco, image_id, shape):
    """Union of every person annotation (crowd regions too) of ``image_id`` as an H x W bool mask."""
    union = np.zeros(shape, bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=[image_id], catIds=[1])):
        union |= coco.annToMask(ann).astype(bool)
    return union


def mask_scores(coco, output_dir):
    """(pooled person IoU, mean per-photo IoU, mean masked share of photos without people, photos with people)."""
    inter = union = 0
    ious, empty_shares = [], []
    for info in coco.loadImgs(coco.getImgIds()):
        stem = os.path.splitext(os.path.basename(info["file_name"]))[0]
        pred = np.asarray(Image.open(os.path.join(output_dir, f"{stem}_mask.png")).convert("L")) > 127
        truth = person_union(coco, info["id"], pred.shape)
        if truth.any():
            i, u = int((pred & truth).sum()), int((pred | truth).sum())
            inter, union = inter + i, union + u
            ious.append(i / u)
        else:
            empty_shares.append(float(pred.mean()))
    return inter / max(union, 1), float(np.mean(ious)), float(np.mean(empty_shares)), len(ious)


def seconds_per_photo(cfg, path, rounds=3):
    """Mean wall time of the mask source's model on ``path`` resized to 640 px on the long side."""
    from localstyle.masks.semantic import SemanticPredictor

    image = Image.open(path).convert("RGB")
    image = np.asarray(image.resize((640, round(640 * image.height / image.width))))[:, :, ::-1]
    predictor = SemanticPredictor(cfg).predictor
    predictor(image)
    start = time.perf_counter()
    for _ in range(rounds):
        predictor(image)
    return (time.perf_counter() - start) / rounds


@cli_errors
def main(argv=None):
    from pycocotools.coco import COCO

    from localstyle.config.model_config import stylize_config

    p = argument_parser(__doc__)
    p.add_argument("--output", default=os.path.join("output", "bench_person_model"), metavar="DIR")
    p.add_argument("--config-file", default=DEFAULT_CONFIG, metavar="FILE")
    add_config_opts(p)
    args = p.parse_args(argv)
    coco = COCO(HELDOUT)
    photos = os.path.join(args.output, "photos")
    os.makedirs(photos, exist_ok=True)
    for info in coco.loadImgs(coco.getImgIds()):
        link = os.path.join(photos, os.path.basename(info["file_name"]))
        if not os.path.exists(link):
            os.symlink(os.path.abspath(os.path.join(IMAGE_ROOT, info["file_name"])), link)
    masks = os.path.join(args.output, "stylized")
    subprocess.run([sys.executable, STYLIZE_NET, "--config-file", args.config_file, "--input", photos, "--output",
                    masks, *args.opts], check=True)
    iou, mean_iou, empty, n = mask_scores(coco, masks)
    cfg = stylize_config(args.config_file, args.opts)
    first = coco.loadImgs(coco.getImgIds()[0])[0]
    seconds = seconds_per_photo(cfg, os.path.join(IMAGE_ROOT, first["file_name"]))
    print(f"{n} held-out photos with people: person IoU {iou:.3f} (per-photo mean {mean_iou:.3f}); "
          f"{len(coco.getImgIds()) - n} without: {empty * 100:.2f}% of their pixels masked")
    print(f"model time per 640 px photo: {seconds:.2f} s ({os.cpu_count()} CPUs)")
    print(f"result: person_iou value={iou:.3f} target>=0.55")
    print(f"result: empty_photo_masked value={empty:.4f} target<=0.05")


if __name__ == "__main__":
    main()
