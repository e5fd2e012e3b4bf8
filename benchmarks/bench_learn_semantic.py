#!/usr/bin/env python
"""Proof that the semantic path learns: train the thin DeepLabv3 R50 from scratch on CPU on the synthetic people
set for the config's fixed budget (SOLVER.MAX_ITER), evaluate on its validation split, report person IoU and
person Boundary IoU.

    python benchmarks/bench_learn_semantic.py [--output output/bench_learn_semantic] [KEY VALUE ...]

Generates the set first if missing (as datasets/make_synthetic.py does, under $LOCALSTYLE_DATASETS or
./datasets). The baseline is the same model before training (random init), evaluated in the same run.
Ends with ``result: semantic_person_iou value=<person IoU on a 0-1 scale> target>=0.8``.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localstyle.config import load_config  # noqa: E402
from localstyle.utils.errors import cli_errors  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(REPO, "configs", "tiny", "deeplabv3_R_50_synthetic.yaml")


@cli_errors
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--output", default=os.path.join(REPO, "output", "bench_learn_semantic"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is robust on shared CPUs; 2 is faster on an idle 2-core machine)")
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides KEY VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from bench_learn_synthetic import ensure_synthetic
    from localstyle.engine.defaults import default_setup
    from localstyle.engine.trainer import Trainer

    ensure_synthetic()
    cfg = load_config(args.config_file, [*args.opts, "OUTPUT_DIR", args.output])
    cfg.freeze()
    default_setup(cfg)
    dataset = cfg.DATASETS.TEST[0]
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    before = Trainer.test(cfg, trainer.model, iteration=-1)[dataset]["sem_seg"]
    start = time.perf_counter()
    after = trainer.train()[dataset]["sem_seg"]
    minutes = (time.perf_counter() - start) / 60
    print(f"untrained (baseline): person IoU {before['IoU-person']:.1f}, "
          f"person Boundary IoU {before['BoundaryIoU-person']:.1f}")
    print(f"after {cfg.SOLVER.MAX_ITER} iterations ({minutes:.1f} min incl. evaluation): mIoU {after['mIoU']:.1f}, "
          f"person IoU {after['IoU-person']:.1f}, person Boundary IoU {after['BoundaryIoU-person']:.1f}, "
          f"pACC {after['pACC']:.1f}")
    if before["IoU-person"] > 0:
        print(f"person IoU ratio trained/untrained: {after['IoU-person'] / before['IoU-person']:.2f}")
    print(f"result: semantic_person_iou value={after['IoU-person'] / 100:.3f} target>={args.target}")


if __name__ == "__main__":
    main()
