#!/usr/bin/env python
"""Proof that the semantic path learns: train the thin DeepLabv3 R50 from scratch on CPU on the synthetic people
set for the config's fixed budget (SOLVER.MAX_ITER), evaluate on its validation split, report person IoU and
person Boundary IoU.

    python benchmarks/bench_learn_semantic.py [--output output/bench_learn_semantic] [KEY VALUE ...]

Generates the set first if missing (as datasets/make_synthetic.py does, under $LOCALSTYLE_DATASETS or
./datasets). The baseline is the same model before training (random init), evaluated in the same run.
Ends with ``result: semantic_person_iou value=<person IoU on a 0-1 scale> target>=0.8``.
"""
import time

from bench_learn_synthetic import learn_parser, synthetic_run
from localstyle.utils.errors import cli_errors


def build_parser():
    return learn_parser(__doc__, "deeplabv3_R_50_synthetic.yaml", "bench_learn_semantic", 0.8)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.engine.trainer import Trainer

    cfg, trainer = synthetic_run(args)
    dataset = cfg.DATASETS.TEST[0]
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
