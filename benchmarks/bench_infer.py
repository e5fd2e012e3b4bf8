#!/usr/bin/env python
"""Per-image latency of DefaultPredictor vs the bare model forward on the same preprocessed inputs, same run.

    python benchmarks/bench_infer.py [--config-file configs/tiny/mask_rcnn_R_50_FPN_synthetic.yaml]
        [--weights output/bench_learn_synthetic/model_final.pth] [--images DIR] [--num-images 8]

Baseline "bare": ``model([inputs])`` under no_grad on inputs prepared once (resized CHW tensors).
"predictor": ``DefaultPredictor(cfg)(bgr_image)`` (resize, tensor conversion, forward, outputs to CPU). Both
share one model and its weights; rounds alternate. Default images: the real COCO photos in tests/data.
Ends with ``result: infer_overhead ratio=<predictor/bare> target<=1.10``.
"""
import glob
import os
import statistics
import time

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_IMAGES = os.path.join(REPO, "tests", "data", "coco_dev", "coco_tiny_train2017", "train2017")
DEFAULT_WEIGHTS = os.path.join(REPO, "output", "bench_learn_synthetic", "model_final.pth")


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default=os.path.join(REPO, "configs/tiny/mask_rcnn_R_50_FPN_synthetic.yaml"))
    parser.add_argument("--weights", default=None, help="default: bench_learn_synthetic's model if present")
    parser.add_argument("--images", default=DEFAULT_IMAGES)
    parser.add_argument("--num-images", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is robust on shared CPUs)")
    add_config_opts(parser)
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch

    from localstyle.config import load_config
    from localstyle.utils.image_io import read_image

    torch.set_num_threads(args.threads)
    weights = args.weights if args.weights is not None else (DEFAULT_WEIGHTS if os.path.isfile(DEFAULT_WEIGHTS) else "")
    # the wrapper's overhead over its own model: the eager runtime (bench_predictor.py compares the runtimes)
    cfg = load_config(args.config_file, ["MODEL.WEIGHTS", weights, "MODEL.RUNTIME", "eager", *args.opts])
    files = sorted(f for ext in ("jpg", "jpeg", "png") for f in glob.glob(os.path.join(args.images, f"*.{ext}")))
    if not files:
        raise LocalstyleError(f"{args.images}: no .jpg/.png images")
    images = [read_image(f, format="BGR") for f in files[: args.num_images]]
    from localstyle.engine.predictor import DefaultPredictor

    predictor = DefaultPredictor(cfg)
    print(f"weights: {weights or 'random init (train with bench_learn_synthetic.py for a real model)'}; "
          f"{len(images)} images from {args.images}")
    inputs = [predictor._prepare(im) for im in images]
    model = predictor.model
    bare, ours, detections = [], [], 0
    with torch.no_grad():
        model([inputs[0]])
        predictor(images[0])  # warm-up
        for r in range(args.rounds):
            for inp in inputs:
                t0 = time.perf_counter()
                out = model([inp])
                bare.append(time.perf_counter() - t0)
                detections += len(out[0]["instances"])
            for im in images:
                t0 = time.perf_counter()
                predictor(im)
                ours.append(time.perf_counter() - t0)
            print(f"round {r + 1}/{args.rounds}: bare {statistics.median(bare) * 1000:.1f} ms/image, "
                  f"predictor {statistics.median(ours) * 1000:.1f} ms/image", flush=True)
    print(f"bare model forward: median {statistics.median(bare) * 1000:.2f} ms/image "
          f"({detections / len(bare):.1f} detections/image)")
    print(f"DefaultPredictor:   median {statistics.median(ours) * 1000:.2f} ms/image")
    print(f"mean ratio {statistics.mean(ours) / statistics.mean(bare):.3f}")
    print(f"result: infer_overhead ratio={statistics.median(ours) / statistics.median(bare):.3f} target<=1.10")


if __name__ == "__main__":
    main()
