#!/usr/bin/env python
"""stylize_net.py over 2 CPU processes x 1 thread against 1 process x 1 thread, in the same run.

The same 24 real COCO train2017 photos with annotated people (tests/data/coco_dev, their person annotations as the
masks), the arbitrary method of configs/stylize/arbitrary_starry_night.yaml (MODEL.DEVICE cpu), each side a fresh
``stylize_net.py`` process with OMP_NUM_THREADS=1 (1 onnxruntime / torch thread per process), ``--repeats`` times,
back to back; the result is the median of the repeats' ratios. images/s is measured over the stylization phase, from
the moment the processes start stylizing to the moment the last one finishes (each rank records both in
``<output>/.ranks/rank<r>.json``; the one-process run prints its runner time): the start-up (Python, torch for the
process group, models) is paid once per job and is printed separately, end to end. The outputs of the two sides are
compared (mean |difference| per image, in 0..255). As a control, two independent one-process runs on the two halves
of the photos, side by side, show what a second process could gain on the machine at that moment.

A "1 thread" process still decodes ahead and writes in background threads (OpenCV's own threads too): left alone it
would use about 1.4 cores, so each side runs on as many cores as it has stylizing processes (CPU affinity: 1 core
for the one-process run, 2 for the two-process run, one each for the control's two runs). Needs 2 cores. Ends with
``result: stylize_scale_2proc ratio=<2-process images/s / 1-process images/s> target>=1.7``.

  python benchmarks/bench_scale.py [--num-images 24] [--repeats 2]
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from localstyle.utils.cli import argument_parser
from localstyle.utils.image_io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stylize", "arbitrary_starry_night.yaml")
COCO = os.path.join(ROOT, "tests", "data", "coco_dev", "coco_tiny_train2017")
PERSON_JSON = os.path.join(COCO + "_person", "annotations", "person_train2017.json")


def copy_photos(folder, num_images):
    """Copy the first ``num_images`` photos (by file name) that have annotated people; returns their names."""
    with open(PERSON_JSON) as f:
        coco = json.load(f)
    with_people = {a["image_id"] for a in coco["annotations"] if not a.get("iscrowd")}
    names = sorted(i["file_name"] for i in coco["images"] if i["id"] in with_people)[:num_images]
    for name in names:
        shutil.copy(os.path.join(COCO, "train2017", name), os.path.join(folder, name))
    return names


def start(inputs, out, processes, first_core=0):
    """A fresh stylize_net.py process (1 thread per stylizing process) on ``processes`` cores of its own, from
    ``first_core``: each stylizing process gets one core's worth of CPU, decode-ahead and writer threads included."""
    cores = set(sorted(os.sched_getaffinity(0))[first_core:first_core + processes])
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, os.path.join(ROOT, "stylize_net.py"), "--config-file", CONFIG, "--input", inputs,
           "--output", out, "--num-gpus", str(processes), "MODEL.DEVICE", "cpu",
           "DATASETS.REGISTER_COCO", repr([["bench_scale", PERSON_JSON, os.path.join(COCO, "train2017")]]),
           "MASKS.DATASET", "bench_scale"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: os.sched_setaffinity(0, cores))


def finish(proc):
    """Wait for ``proc``; returns its stdout (exits with its error if it failed)."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"error: stylize_net.py failed ({proc.returncode}): {err[-800:]}")
    return out


def runner_rate(stdout):
    """``(images done, runner seconds)`` from a one-process run's closing line."""
    done, seconds = re.search(r"stylize: (\d+) done.* in ([\d.]+) s", stdout).groups()
    return int(done), float(seconds)


def run(inputs, out, processes):
    """One fresh stylize_net.py run; returns ``(images/s of the stylization phase, end-to-end seconds)``."""
    t0 = time.perf_counter()
    stdout = finish(start(inputs, out, processes))
    wall = time.perf_counter() - t0
    if processes == 1:
        done, seconds = runner_rate(stdout)
        return done / seconds, wall
    ranks = [json.load(open(os.path.join(out, ".ranks", f"rank{r}.json")))["summary"] for r in range(processes)]
    seconds = max(r["finished"] for r in ranks) - min(r["started"] for r in ranks)
    return sum(r["done"] for r in ranks) / seconds, wall


def control(halves, tmp):
    """images/s of two independent one-process runs side by side, one per half of the photos."""
    procs = [start(h, os.path.join(tmp, f"half{k}"), 1, first_core=k) for k, h in enumerate(halves)]
    results = [runner_rate(finish(p)) for p in procs]
    return sum(d for d, _ in results) / max(s for _, s in results)


def mean_differences(names, a, b):
    """Mean |difference| (0..255) of each photo's composite between output folders ``a`` and ``b``."""
    stems = [os.path.splitext(n)[0] for n in names]
    return [float(np.abs(read_image(os.path.join(a, f"{s}.png")).astype(np.float32)
                         - read_image(os.path.join(b, f"{s}.png")).astype(np.float32)).mean()) for s in stems]


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--num-images", type=int, default=24)
    p.add_argument("--repeats", type=int, default=2)
    return p


def main():
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "in")
        os.makedirs(inputs)
        names = copy_photos(inputs, args.num_images)
        halves = [os.path.join(tmp, "a"), os.path.join(tmp, "b")]
        for k, name in enumerate(names):
            os.makedirs(halves[k % 2], exist_ok=True)
            shutil.copy(os.path.join(inputs, name), os.path.join(halves[k % 2], name))
        ratios, controls, walls = [], [], {1: [], 2: []}
        for repeat in range(args.repeats):  # back to back, so that each repeat's ratio sees one machine load
            rates = {}
            for processes in (1, 2):
                rates[processes], wall = run(inputs, os.path.join(tmp, f"out{processes}"), processes)
                walls[processes].append(wall)
            ratios.append(rates[2] / rates[1])
            controls.append(control(halves, tmp) / rates[1])
            print(f"repeat {repeat}: 1 process {rates[1]:.2f} images/s, 2 processes {rates[2]:.2f} images/s: ratio "
                  f"{ratios[-1]:.2f}; control (2 independent processes on the halves) {controls[-1]:.2f}; end to end "
                  f"{walls[1][-1]:.1f} s vs {walls[2][-1]:.1f} s", flush=True)
        diffs = mean_differences(names, os.path.join(tmp, "out1"), os.path.join(tmp, "out2"))
    print(f"{len(names)} photos, {os.cpu_count()} cores; median of {args.repeats} repeats: ratio "
          f"{statistics.median(ratios):.2f} (spread {min(ratios):.2f}-{max(ratios):.2f}), control "
          f"{statistics.median(controls):.2f} (what this machine allowed a second process); end to end "
          f"{statistics.median(walls[1]):.1f} s vs {statistics.median(walls[2]):.1f} s; outputs 2 vs 1 process: "
          f"mean |difference| at most {max(diffs):.3f} / 255")
    print(f"result: stylize_scale_2proc ratio={statistics.median(ratios):.2f} target>=1.7")


if __name__ == "__main__":
    main()
