#!/usr/bin/env python
"""Peak memory of stylizing one big photo (6000x4000 by default) with ``stylize_net.py``.

The shipped photo ``assets/photos/coco_train2017_000000360452.jpg`` is upscaled to the size asked for, with its
COCO person polygons scaled alike, into a temporary folder; ``stylize_net.py`` then styles it in a fresh process
(``configs/stylize/arbitrary_starry_night.yaml``: annotation masks, the ``arbitrary`` method at 384 px, composite,
mask and comparison strip written), once per ``--max-size`` value (STYLIZE.MAX_SIZE: the working resolution of the
masks and crops; 0 = none, every step at full size). Prints the peak resident memory of each run (the process's
``ru_maxrss``) and ends with ``result: big_photo_peak_rss max_size=<last> gb=<peak>``.

  python benchmarks/bench_big_photo_memory.py [--width 6000] [--height 4000] [--max-size 0 2048]
"""
import json
import os
import subprocess
import sys
import tempfile

from localstyle.utils.cli import argument_parser

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = "coco_train2017_000000360452.jpg"
CONFIG = os.path.join(REPO, "configs", "stylize", "arbitrary_starry_night.yaml")


def make_big_photo(folder, width, height):
    """``folder/in/<PHOTO>`` upscaled to ``width`` x ``height`` and ``folder/big.json`` with its scaled persons."""
    from localstyle.utils.image_io import read_image, resize_image, write_image

    with open(os.path.join(REPO, "assets", "photos", "annotations", "instances_photos.json")) as f:
        data = json.load(f)
    image = next(im for im in data["images"] if im["file_name"] == PHOTO)
    sx, sy = width / image["width"], height / image["height"]
    anns = []
    for a in data["annotations"]:
        if a["image_id"] == image["id"] and isinstance(a["segmentation"], list):
            polys = [[v * (sx if i % 2 == 0 else sy) for i, v in enumerate(p)] for p in a["segmentation"]]
            x, y, w, h = a["bbox"]
            anns.append({**a, "segmentation": polys, "bbox": [x * sx, y * sy, w * sx, h * sy],
                         "area": a["area"] * sx * sy})
    os.makedirs(os.path.join(folder, "in"))
    write_image(os.path.join(folder, "in", PHOTO),
                resize_image(read_image(os.path.join(REPO, "assets", "photos", PHOTO)), height, width))
    with open(os.path.join(folder, "big.json"), "w") as f:
        json.dump({"images": [{**image, "width": width, "height": height}], "annotations": anns,
                   "categories": data["categories"]}, f)
    return len(anns)


def peak_rss_gb(folder, max_size, out):
    """Run stylize_net.py on the big photo in a fresh process, writing into ``out``; returns its peak RSS in GB."""
    code = ("import resource, sys, stylize_net\n"
            "rc = stylize_net.main(sys.argv[1:])\n"
            "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
            "sys.exit(rc)\n")
    cmd = [sys.executable, "-c", code, "--config-file", CONFIG, "--input", os.path.join(folder, "in"),
           "--output", out, "MODEL.DEVICE", "cpu", "STYLIZE.MAX_SIZE", str(max_size), "DATASETS.REGISTER_COCO",
           repr([["big_photo", os.path.join(folder, "big.json"), os.path.join(folder, "in")]]),
           "MASKS.DATASET", "big_photo"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO))
    if proc.returncode != 0:
        raise SystemExit(f"stylize_net.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    kb = int(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("peak_rss_kb")))
    return kb / 1024 ** 2


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--max-size", type=int, nargs="+", default=[0, 2048], help="STYLIZE.MAX_SIZE values to run")
    return p


def main():
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory() as folder:
        n = make_big_photo(folder, args.width, args.height)
        print(f"{args.width}x{args.height} photo, {n} person annotations")
        for k, max_size in enumerate(args.max_size):
            gb = peak_rss_gb(folder, max_size, os.path.join(folder, f"out_{k}"))
            print(f"STYLIZE.MAX_SIZE {max_size}: peak RSS {gb:.2f} GB")
    print(f"result: big_photo_peak_rss max_size={args.max_size[-1]} gb={gb:.2f}")


if __name__ == "__main__":
    main()
