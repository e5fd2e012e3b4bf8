#!/usr/bin/env python
"""Benchmark the COCO person-subset filter against a plain JSON load + dump of the same file.

Generates a synthetic instances_train2017.json at COCO train2017 scale (``--scale 1``: 118,287 images,
~860k annotations with 20-30-point polygons, 80 categories, ~45% person, ~450 MB) plus empty image files in
a temporary COCO root, then times, each in a fresh subprocess:
  baseline: read + parse + serialize + atomically write the whole file (same JSON library as the filter)
  filter:   localstyle.data.person_subset.prepare_person_subset(..., splits=["train2017"])
and prints ``result: person_filter ratio=<filter/baseline> target<=1.5``.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from localstyle.data.person_subset import JSON_LIBRARY, dump_json_bytes
from localstyle.utils.cli import argument_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_IMAGES, ANNS_PER_IMAGE, PERSON_FRACTION, TARGET = 118287, 7.3, 0.45, 1.5

CHILD = r"""
import json, resource, sys, time
from localstyle.data import person_subset
from localstyle.data.person_subset import read_json, write_json, prepare_person_subset
mode, root, out = sys.argv[1:4]
t = time.perf_counter()
if mode == "baseline":
    write_json(out + "/copy.json", read_json(root + "/annotations/instances_train2017.json"))
    info = {{}}
else:
    split = prepare_person_subset(root, out, ["train2017"])["splits"]["train2017"]
    info = {{k: split[k] for k in ("kept_images", "kept_annotations", "dropped_annotations")}}
elapsed = time.perf_counter() - t
print(json.dumps({{"seconds": elapsed, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "module": person_subset.__file__, **info}}))
"""


def _chunks(total, size):
    for start in range(0, total, size):
        yield start, min(size, total - start)


def generate(root, num_images, seed=0):
    """Write root/annotations/instances_train2017.json and empty root/train2017/*.jpg (0.1% left missing)."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(root, "annotations"))
    os.makedirs(os.path.join(root, "train2017"))
    sizes = rng.integers(300, 641, size=(num_images, 2))
    per_image = rng.poisson(ANNS_PER_IMAGE - 1, num_images) + 1
    categories = [{"supercategory": "thing", "id": i, "name": f"class{i}"} for i in range(2, 81)]
    categories.insert(0, {"supercategory": "person", "id": 1, "name": "person"})
    other_ids = np.array([c["id"] for c in categories[1:]])
    path = os.path.join(root, "annotations", "instances_train2017.json")
    with open(path, "wb") as f:
        f.write(b'{"info":{"description":"synthetic COCO-scale benchmark"},"licenses":[],"images":[')
        for start, n in _chunks(num_images, 20000):
            images = [{"license": 1, "file_name": f"{i + 1:012d}.jpg", "height": int(sizes[i, 1]),
                       "width": int(sizes[i, 0]), "date_captured": "2013-11-14 16:28:13", "id": i + 1}
                      for i in range(start, start + n)]
            f.write((b"," if start else b"") + dump_json_bytes(images)[1:-1])
        f.write(b'],"annotations":[')
        image_of = np.repeat(np.arange(num_images), per_image)
        ann_id = 0
        for start, n in _chunks(len(image_of), 20000):
            anns = []
            for img in image_of[start:start + n].tolist():
                w, h = int(sizes[img, 0]), int(sizes[img, 1])
                k = int(rng.integers(20, 31))
                pts = np.round(rng.uniform(0, 1, (k, 2)) * (w, h), 2)
                x0, y0 = pts.min(0)
                x1, y1 = pts.max(0)
                person = rng.uniform() < PERSON_FRACTION
                ann_id += 1
                anns.append({"segmentation": [pts.ravel().tolist()], "iscrowd": 0, "image_id": img + 1,
                             "area": float(round((x1 - x0) * (y1 - y0) / 2, 2)),
                             "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                             "category_id": 1 if person else int(rng.choice(other_ids)), "id": ann_id})
            f.write((b"," if start else b"") + dump_json_bytes(anns)[1:-1])
        f.write(b'],"categories":' + dump_json_bytes(categories) + b"}")
    missing = set(rng.choice(num_images, max(1, num_images // 1000), replace=False).tolist())
    for i in range(num_images):
        if i not in missing:
            open(os.path.join(root, "train2017", f"{i + 1:012d}.jpg"), "wb").close()
    return path, int(per_image.sum())


def run_child(mode, root, out, repo=REPO):
    """Run the baseline or the filter in a fresh process importing ``localstyle`` from the checkout ``repo``.

    The child runs in ``repo``: ``python -c`` puts its working directory first on ``sys.path``, ahead of
    ``PYTHONPATH``, so from another checkout's root it would import that checkout's code instead."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
    res = subprocess.run([sys.executable, "-c", CHILD.format(), mode, root, out], env=env, cwd=repo,
                         check=True, capture_output=True, text=True)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    if not os.path.realpath(out["module"]).startswith(os.path.realpath(repo) + os.sep):
        raise SystemExit(f"the {mode} child imported {out['module']}, not the code in {repo}")
    return out


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of COCO train2017's size (1.0 = full)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main():
    args = build_parser().parse_args()
    num_images = max(10, int(FULL_IMAGES * args.scale))
    with tempfile.TemporaryDirectory(prefix="bench_person_filter_") as tmp:
        root = os.path.join(tmp, "coco")
        t = time.perf_counter()
        path, num_anns = generate(root, num_images, args.seed)
        print(f"generated {num_images} images, {num_anns} annotations, {os.path.getsize(path) / 2**20:.0f} MB "
              f"in {time.perf_counter() - t:.1f}s (JSON library: {JSON_LIBRARY})")
        base = run_child("baseline", root, os.path.join(tmp, "baseline"))
        filt = run_child("filter", root, os.path.join(tmp, "person"))
    ratio = filt["seconds"] / base["seconds"]
    print(f"baseline (load + dump whole file): {base['seconds']:.2f}s, peak RSS {base['max_rss_mb']:.0f} MB")
    print(f"person filter:                     {filt['seconds']:.2f}s, peak RSS {filt['max_rss_mb']:.0f} MB "
          f"(kept {filt['kept_images']} images, {filt['kept_annotations']} annotations, "
          f"dropped {filt['dropped_annotations']})")
    print(f"result: person_filter ratio={ratio:.2f} target<={TARGET}")


if __name__ == "__main__":
    main()
