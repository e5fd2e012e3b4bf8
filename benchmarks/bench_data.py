#!/usr/bin/env python
"""Training data loader at COCO person scale: images/s, summed PSS and time to first batch, against today's loader.

    python benchmarks/bench_data.py [--images 3000] [--workers 1 2 4] [--baseline-rev REV] [--skip-filter]

Builds (in a temporary folder) the person-scale annotation file: 64,115 image entries and 224,403 polygon
annotations, cycling over the real COCO photos of tests/data and their real person polygons. For 1, 2 and 4
workers it runs, each in a fresh process, the loader of this checkout ("new") and the loader of
``--baseline-rev`` ("old": today's localstyle, extracted with ``git archive``) with the default person config's
augmentation (configs/person/mask_rcnn_R_50_FPN_1x.yaml: shortest edge 640-800, flip, masks), batches of 2, and
prints images/s (after the first batch), summed PSS of the main process and its workers (``/proc/*/smaps_rollup``)
at the first batch and after ``--images`` images, and the time to first batch (from building the loader: JSON
load, dataset dicts, workers). Then the person-subset tool's peak memory, old and new, on a generated file of
train2017's size (``bench_person_filter.generate``, ~448 MB; skipped with ``--skip-filter``). Ends with
``result: data_loader ratio=<new images/s with 2 workers / 75 (detectron2's measured lower figure)> target>=1.2``.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import bench_person_filter
from localstyle.data.person_subset import dump_json_bytes
from localstyle.utils.cli import argument_parser
from localstyle.utils.memory import summed_pss

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUM_IMAGES, NUM_ANNOTATIONS = 64115, 224403
D2_IMAGES_PER_S, TARGET = 75.0, 1.2  # detectron2's build_detection_train_loader, 2 workers, measured 75-89
BASELINE_REV = "c1271d1"  # main before the serialized storage / polygon masks (today's loader)
SOURCES = [("coco_tiny_train2017_person/annotations/person_train2017.json", "coco_tiny_train2017/train2017"),
           ("lizhogn_tiny_coco_train2017_person/annotations/person_train2017.json",
            "lizhogn_tiny_coco_train2017/train2017")]
CONFIG = "configs/person/mask_rcnn_R_50_FPN_1x.yaml"

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from localstyle.config import get_cfg
from localstyle.data import register_coco_instances
from localstyle.data.build import build_detection_train_loader
json_file, workers, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
register_coco_instances("bench_person_scale", {}, json_file, "/")
cfg = get_cfg()
cfg.merge_from_file("configs/person/mask_rcnn_R_50_FPN_1x.yaml")
cfg.merge_from_list(["DATASETS.TRAIN", "('bench_person_scale',)", "DATALOADER.NUM_WORKERS", str(workers),
                     "SOLVER.IMS_PER_BATCH", "2", "SEED", "0"])
it = iter(build_detection_train_loader(cfg))
n = len(next(it))
first = time.perf_counter()
print("first", first - t0, flush=True)
sys.stdin.readline()  # the parent measures PSS now
start = time.perf_counter()
while n < images:
    n += len(next(it))
print("done", n / (time.perf_counter() - start), flush=True)
sys.stdin.readline()
"""


def build_person_scale_json(path):
    """Write the person-scale COCO file (absolute file names, so image_root is "/"); returns (images, anns)."""
    photos = []
    for json_rel, image_rel in SOURCES:
        with open(os.path.join(REPO, "tests", "data", "coco_dev", json_rel)) as f:
            data = json.load(f)
        anns = {}
        for a in data["annotations"]:
            if not a["iscrowd"] and isinstance(a["segmentation"], list):
                anns.setdefault(a["image_id"], []).append(a)
        root = os.path.join(REPO, "tests", "data", "coco_dev", image_rel)
        photos += [(dict(im, file_name=os.path.join(root, im["file_name"])), anns[im["id"]])
                   for im in data["images"] if im["id"] in anns]
    counts = [len(photos[k % len(photos)][1]) for k in range(NUM_IMAGES)]
    excess, k = sum(counts) - NUM_ANNOTATIONS, 0
    while excess > 0:  # drop one annotation from successive entries that have several
        if counts[k % NUM_IMAGES] > 1:
            counts[k % NUM_IMAGES] -= 1
            excess -= 1
        k += 1
    while excess < 0:  # or repeat annotations of the photo
        counts[k % NUM_IMAGES] += 1
        excess += 1
        k += 1
    images, annotations = [], []
    for k in range(NUM_IMAGES):
        im, anns = photos[k % len(photos)]
        images.append(dict(im, id=k + 1))
        for j in range(counts[k]):
            annotations.append(dict(anns[j % len(anns)], id=len(annotations) + 1, image_id=k + 1))
    with open(path, "wb") as f:
        f.write(dump_json_bytes({"images": images, "annotations": annotations,
                                 "categories": [{"id": 1, "name": "person", "supercategory": "person"}]}))
    return len(images), len(annotations)


def extract_baseline(rev, dest):
    """``localstyle`` and ``configs`` of git revision ``rev`` into ``dest``."""
    archive = subprocess.run(["git", "-C", REPO, "archive", rev, "localstyle", "configs"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)


def run_loader(code_dir, json_file, workers, images):
    """One loader in a fresh process; returns images/s, PSS at first batch and after ``images``, seconds to first."""
    env = dict(os.environ, PYTHONPATH=code_dir)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json_file, str(workers), str(images)], cwd=code_dir,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ttfb = float(proc.stdout.readline().split()[1])
        pss_first = summed_pss(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
        ips = float(proc.stdout.readline().split()[1])
        pss_end = summed_pss(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
    finally:
        proc.wait(timeout=120)
    if proc.returncode:
        raise SystemExit(f"loader process failed ({code_dir}, {workers} workers)")
    return {"images_per_s": ips, "pss_first": pss_first, "pss_end": pss_end, "ttfb": ttfb}


def person_filter_peak(old_dir, scale):
    """Peak RSS (MB) and seconds of the person-subset tool, new and old, on a generated train2017-scale file."""
    with tempfile.TemporaryDirectory(prefix="bench_data_filter_") as tmp:
        root = os.path.join(tmp, "coco")
        path, num_anns = bench_person_filter.generate(root, int(bench_person_filter.FULL_IMAGES * scale))
        size_mb = os.path.getsize(path) / 2**20
        print(f"person filter on a {size_mb:.0f} MB train2017-scale file ({num_anns} annotations):", flush=True)
        for name, repo in (("old", old_dir), ("new", REPO)):
            res = bench_person_filter.run_child("filter", root, os.path.join(tmp, name), repo)
            print(f"  {name}: peak RSS {res['max_rss_mb']:.0f} MB, {res['seconds']:.1f} s", flush=True)
    return res["max_rss_mb"]


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--images", type=int, default=3000, help="images to load after the first batch")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of today's loader (the baseline)")
    p.add_argument("--skip-filter", action="store_true", help="do not measure the person-subset tool")
    p.add_argument("--filter-scale", type=float, default=1.12,
                   help="size of the person filter's file in train2017 images (1.12: ~448 MB, train2017's size)")
    return p


def main():
    args = build_parser().parse_args()
    gib = 2**30
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        json_file = os.path.join(tmp, "person_scale.json")
        t = time.perf_counter()
        n_img, n_ann = build_person_scale_json(json_file)
        print(f"person-scale file: {n_img} image entries, {n_ann} polygon annotations, "
              f"{os.path.getsize(json_file) / 2**20:.0f} MB ({time.perf_counter() - t:.0f}s)", flush=True)
        old_dir = os.path.join(tmp, "old")
        os.makedirs(old_dir)
        extract_baseline(args.baseline_rev, old_dir)
        print("| loader | workers | images/s | PSS after first batch | PSS after N images | growth | "
              "time to first batch |\n| --- | --- | --- | --- | --- | --- | --- |", flush=True)
        results = {}
        for workers in args.workers:
            for name, code_dir in (("old", old_dir), ("new", REPO)):
                r = run_loader(code_dir, json_file, workers, args.images)
                results[name, workers] = r
                print(f"| {name} | {workers} | {r['images_per_s']:.1f} | {r['pss_first'] / gib:.2f} GiB | "
                      f"{r['pss_end'] / gib:.2f} GiB | {r['pss_end'] / r['pss_first'] - 1:+.1%} | "
                      f"{r['ttfb']:.1f} s |", flush=True)
        print(f"N = {args.images} images; old = {args.baseline_rev}")
        if not args.skip_filter:
            peak = person_filter_peak(old_dir, args.filter_scale)
            print(f"person filter peak (new): {peak:.0f} MB (target < 1024 MB)")
    ref = 2 if 2 in args.workers else args.workers[0]
    new, old = results["new", ref]["images_per_s"], results["old", ref]["images_per_s"]
    r = results["new", ref]
    print(f"new, {ref} workers: {new:.1f} images/s (target >= {TARGET * D2_IMAGES_PER_S:.0f}), PSS "
          f"{r['pss_end'] / gib:.2f} GiB (target <= 1.3), growth {r['pss_end'] / r['pss_first'] - 1:+.1%} "
          f"(target < 2%)")
    print(f"new/old (today's localstyle loader, same run, {ref} workers): {new / old:.2f}")
    print(f"result: data_loader ratio={new / D2_IMAGES_PER_S:.2f} target>={TARGET}")


if __name__ == "__main__":
    main()
