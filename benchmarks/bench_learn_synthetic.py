#!/usr/bin/env python
"""Proof that the training stack learns: train the thin R50-FPN Mask R-CNN from scratch on CPU on the synthetic
people set, evaluate on its validation split, report mask AP50.

    python benchmarks/bench_learn_synthetic.py [--output output/bench_learn_synthetic] [KEY VALUE ...]

Generates the set first if missing (localstyle.data.synthetic, as datasets/make_synthetic.py does, under
$LOCALSTYLE_DATASETS or ./datasets). Also prints the first and last logged total loss of the run.
Ends with ``result: synthetic_mask_ap50 value=<AP50 on a 0-1 scale> target>=0.5``.
"""
import os
import time

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_synthetic():
    """Create the built-in synthetic_train / synthetic_val files if they are missing."""
    from localstyle.data.builtin import datasets_root
    from localstyle.data.synthetic import make_synthetic

    root = os.path.join(datasets_root(), "synthetic")
    if not os.path.isfile(os.path.join(root, "annotations", "instances_val.json")):
        print(f"generating the synthetic set in {root}", flush=True)
        make_synthetic(root)


def learn_parser(doc, config, name, target):
    """The command line of a learning benchmark: --config-file, --output (default ``output/<name>``), --threads,
    --target, KEY VALUE."""
    parser = argument_parser(doc)
    parser.add_argument("--config-file", default=os.path.join(REPO, "configs", "tiny", config))
    parser.add_argument("--output", default=os.path.join(REPO, "output", name))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is robust on shared CPUs; 2 is faster on an idle 2-core machine)")
    parser.add_argument("--target", type=float, default=target)
    return add_config_opts(parser)


def build_parser():
    return learn_parser(__doc__, "mask_rcnn_R_50_FPN_synthetic.yaml", "bench_learn_synthetic", 0.5)


def synthetic_run(args):
    """``(cfg, trainer)`` of a learning benchmark's parsed ``args``: the synthetic set generated if missing, the
    config with OUTPUT_DIR --output set up like train_net.py, and a Trainer starting from MODEL.WEIGHTS."""
    import torch

    from localstyle.config import load_config
    from localstyle.engine.defaults import default_setup
    from localstyle.engine.trainer import Trainer

    torch.set_num_threads(args.threads)
    ensure_synthetic()
    cfg = load_config(args.config_file, [*args.opts, "OUTPUT_DIR", args.output])
    cfg.freeze()
    default_setup(cfg)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    return cfg, trainer


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.engine.hooks import read_metrics

    cfg, trainer = synthetic_run(args)
    dataset = cfg.DATASETS.TEST[0]
    start = time.perf_counter()
    results = trainer.train()[dataset]
    minutes = (time.perf_counter() - start) / 60
    ap50 = results["segm"]["AP50"] / 100
    losses = [r["total_loss"] for r in read_metrics(os.path.join(args.output, "metrics.json")) if "total_loss" in r]
    print(f"total_loss (20-iteration median): {losses[0]:.3f} at the first log, {losses[-1]:.3f} at the end")
    print(f"after {cfg.SOLVER.MAX_ITER} iterations ({minutes:.1f} min incl. evaluation): "
          f"box AP {results['bbox']['AP']:.1f}, AP50 {results['bbox']['AP50']:.1f}; "
          f"mask AP {results['segm']['AP']:.1f}, AP50 {results['segm']['AP50']:.1f}")
    print(f"result: synthetic_mask_ap50 value={ap50:.3f} target>={args.target}")


if __name__ == "__main__":
    main()
