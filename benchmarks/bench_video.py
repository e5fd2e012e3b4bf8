#!/usr/bin/env python
"""Temporal stability and speed of video stylization on a generated clip with known motion and masks.

The clip (localstyle.video.synthetic: textured people walking over a textured scene, camera pan,
640 x 360) is stylized with the ``arbitrary`` method (configs/stylize/arbitrary_video.yaml) twice,
VIDEO.STABILIZE off and on. Masks are the clip's true masks spoiled like a detector's: each person's mask
grows or shrinks by up to ``--mask-noise`` px at random and is missed in ``--drop`` of the frames (the
same noise for both runs). Printed, from the frames before encoding:

* warping error (mean |frame t - frame t-1 moved by the true motion| inside the people's masks), off vs on;
* mask IoU jitter (mean frame-to-frame change of the IoU between the alpha used and the true masks), off vs on;
* texture kept: mean |Laplacian| of the grey output inside the true masks over the second half of the clip,
  on vs off (a stabilizer that blurs the style away scores a low warping error but a low texture);
* frames/s of the whole video pipeline (decode, masks, flow, tracking, stylize, composite, three mp4
  files) with stabilization on, against a per-frame loop of the photo pipeline (``StylizeRunner`` with
  STYLIZE.BATCH_SIZE 1 on the clip's PNG frames, strips off), on the same frames and masks.

Ends with ``result: video_warp_error ratio=<on/off> target<=0.5``, ``result: video_texture_kept
ratio=<on/off> target>=0.85`` and ``result: video_vs_photo_speed ratio=<video/photo> target>=1.2``.

  python benchmarks/bench_video.py [--frames 40] [--size 640x360] [--mask-noise 4] [--drop 0.1] [KEY VALUE ...]
"""
import contextlib
import io
import os
import re
import tempfile
import time

import numpy as np

from localstyle.compose import refine_mask
from localstyle.config import load_config
from localstyle.data import register_datasets_from_cfg
from localstyle.masks import MaskSource, build_mask_source
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.video import SyntheticClip, VideoRunner, write_synthetic_clip
from localstyle.video.metrics import StabilityMeter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = os.path.join(ROOT, "configs", "stylize", "arbitrary_video.yaml")


class NoisyMasks(MaskSource):
    """A mask source's masks grown/shrunk by up to ``noise`` px and dropped with probability ``drop``."""

    def __init__(self, source, noise, drop, seed=0):
        super().__init__(source.cfg)
        self.source, self.noise, self.drop, self.seed = source, noise, drop, seed
        self.thing_classes = source.thing_classes

    def __call__(self, records):
        out = []
        for r, det in zip(records, self.source(records)):
            index = int(re.search(r"(\d+)\D*$", os.path.basename(r.path)).group(1))
            rng = np.random.default_rng([self.seed, index])
            keep = rng.uniform(size=len(det)) >= self.drop
            for i in range(len(det)):
                det.masks[i] = refine_mask(det.masks[i], int(rng.integers(-self.noise, self.noise + 1)))
            det.classes, det.scores, det.boxes, det.masks = (det.classes[keep], det.scores[keep], det.boxes[keep],
                                                             det.masks[keep])
            out.append(det)
        return out


def video_run(cfg, source, out_dir, video, clip, stabilize):
    """Stylize ``video``; returns the stability report (frames before encoding) and frames/s of the run."""
    cfg = cfg.clone()
    cfg.merge_from_list(["VIDEO.STABILIZE", stabilize])
    runner = VideoRunner(cfg, out_dir, overwrite=True, mask_source=source)
    meter = StabilityMeter(clip)
    seconds = [0.0]

    def measure(index, original, outcome, alpha, record):
        t0 = time.perf_counter()
        meter.add(outcome, alpha)
        seconds[0] += time.perf_counter() - t0  # not part of the pipeline's time

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        summary = runner.run(video, on_frame=measure)
    return meter.report(), summary["frames"] / (time.perf_counter() - t0 - seconds[0])


def photo_loop(cfg, frames_dir, out_dir):
    from localstyle.stylize import StylizeRunner, list_inputs

    cfg = cfg.clone()
    cfg.merge_from_list(["STYLIZE.BATCH_SIZE", 1, "STYLIZE.STRIP", False])
    runner = StylizeRunner(cfg, out_dir, overwrite=True)
    inputs = list_inputs(frames_dir)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        runner.run(inputs)
    return len(inputs) / (time.perf_counter() - t0)


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--size", default="640x360")
    p.add_argument("--mask-noise", type=int, default=4)
    p.add_argument("--drop", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    return add_config_opts(p)


def main():
    args = build_parser().parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    clip = SyntheticClip(width, height, args.frames, 24.0, 3, 2, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stderr(io.StringIO()):
            video, frames_dir, ann = write_synthetic_clip(clip, os.path.join(tmp, "clip"))
        cfg = load_config(CONFIG, ["DATASETS.REGISTER_COCO", repr([["synthetic_clip", ann, frames_dir]]),
                                   "MODEL.DEVICE", "cpu", *args.opts])
        register_datasets_from_cfg(cfg)
        source = NoisyMasks(build_mask_source(cfg), args.mask_noise, args.drop, args.seed)
        off, _ = video_run(cfg, source, os.path.join(tmp, "off"), video, clip, False)
        on, video_fps = video_run(cfg, source, os.path.join(tmp, "on"), video, clip, True)
        photo_fps = photo_loop(cfg, frames_dir, os.path.join(tmp, "photo"))
    print(f"clip: {args.frames} frames {width}x{height}, 3 people, pan 2 px/frame; masks: true masks "
          f"+-{args.mask_noise} px, {args.drop:.0%} dropped; style method arbitrary, STYLE.SIZE {cfg.STYLE.SIZE}")
    print("| stabilization | warp error (0-255) | texture, 2nd half (mean abs Laplacian) | mask IoU jitter | "
          "mean mask IoU |")
    print("| --- | --- | --- | --- | --- |")
    for name, r in (("off", off), ("on", on)):
        print(f"| {name} | {r.warp_error:.2f} | {r.texture:.2f} | {r.mask_iou_jitter:.4f} | {r.mask_iou:.3f} |")
    print(f"frames/s: video pipeline (stabilization on) {video_fps:.2f}, per-frame photo pipeline {photo_fps:.2f}")
    print(f"result: video_warp_error ratio={on.warp_error / off.warp_error:.3f} target<=0.5")
    print(f"result: video_texture_kept ratio={on.texture / off.texture:.3f} target>=0.85")
    print(f"result: video_vs_photo_speed ratio={video_fps / photo_fps:.3f} target>=1.2")


if __name__ == "__main__":
    main()
