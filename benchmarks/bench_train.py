#!/usr/bin/env python
"""Seconds per iteration of localstyle's Trainer vs a bare training loop, same model, same batches, same run.

    python benchmarks/bench_train.py [--config-file configs/tiny/mask_rcnn_R_50_FPN_unittest.yaml] [--iters 20]

Both start from the same initial weights (build_model after the same seed) and consume the same pre-loaded
batches with the trainer's per-iteration RNG seeds, so they do identical work (checked: identical final weights)
and only the loop differs. Baseline "bare" (torchvision references style): forward, loss sum, backward,
optimizer step, LR-scheduler step; gradient clipping is off for both. "trainer":
Trainer.train() (metrics, TensorBoard, per-iteration reseeding, LR schedule, checkpoint logic). Iteration times
are the gaps between consecutive batch requests; rounds alternate to spread machine noise evenly.
Ends with ``result: train_overhead ratio=<trainer/bare> target<=1.10``.
"""
import os
import statistics
import tempfile
import time

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors

DEFAULT_CONFIG = "configs/tiny/mask_rcnn_R_50_FPN_unittest.yaml"


class _Timed:
    """Iterator over ``batches`` that records the time of every request."""

    def __init__(self, batches):
        self.batches, self.stamps = iter(batches), []

    def __iter__(self):
        return self

    def __next__(self):
        self.stamps.append(time.perf_counter())
        return next(self.batches)

    def gaps(self, skip):
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])][skip:]


def bare_loop(cfg, batches):
    from localstyle.engine.defaults import seed_all_rng
    from localstyle.engine.trainer import iteration_seed
    from localstyle.modeling import build_model
    from localstyle.solver import build_lr_scheduler, build_optimizer

    seed_all_rng(cfg.SEED)
    model = build_model(cfg)
    model.train()
    optimizer = build_optimizer(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    timed = _Timed(batches)
    for it in range(len(batches)):
        seed_all_rng(iteration_seed(cfg.SEED, it))  # the trainer's RNG stream: identical sampling, identical work
        loss = sum(model(next(timed)).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return timed, model


def trainer_loop(cfg, batches):
    from localstyle.engine.defaults import seed_all_rng
    from localstyle.engine.trainer import Trainer

    seed_all_rng(cfg.SEED)
    trainer = Trainer(cfg)
    timed = _Timed(batches)
    trainer.train(data_iter=timed)
    return timed, trainer.model


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default=DEFAULT_CONFIG)
    parser.add_argument("--iters", type=int, default=20, help="iterations per round and loop")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2, help="iterations per round left out of the timing")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is robust on shared CPUs)")
    add_config_opts(parser)
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch

    from localstyle.config import load_config

    torch.set_num_threads(args.threads)
    from localstyle.data import register_datasets_from_cfg
    from localstyle.data.build import build_detection_train_loader
    from localstyle.data.synthetic import make_synthetic
    from localstyle.utils.logger import setup_logger

    with tempfile.TemporaryDirectory() as tmp:
        jsons = make_synthetic(os.path.join(tmp, "data"), num_train=16, num_val=0, size=96, seed=0)
        opts = ["DATASETS.REGISTER_COCO", repr([["bench_train", jsons["train"], os.path.join(tmp, "data", "train")]]),
                "DATASETS.TRAIN", "('bench_train',)", "DATASETS.TEST", "()", "SOLVER.MAX_ITER", str(args.iters),
                "SOLVER.CHECKPOINT_PERIOD", "0", "SOLVER.CLIP_GRADIENTS.ENABLED", "False", "SEED", "0",
                "OUTPUT_DIR", os.path.join(tmp, "out"), *args.opts]
        cfg = load_config(args.config_file, opts)
        setup_logger(None, name="localstyle").setLevel("WARNING")
        register_datasets_from_cfg(cfg)
        loader = iter(build_detection_train_loader(cfg))
        batches = [next(loader) for _ in range(args.iters)]
        bare, ours = [], []
        for r in range(args.rounds):
            bare_timed, bare_model = bare_loop(cfg, batches)
            ours_timed, our_model = trainer_loop(cfg, batches)
            bare += bare_timed.gaps(args.warmup)
            ours += ours_timed.gaps(args.warmup)
            same = all(torch.equal(a, b) for a, b in zip(bare_model.state_dict().values(),
                                                         our_model.state_dict().values()))
            print(f"round {r + 1}/{args.rounds}: bare {statistics.median(bare):.4f} s/iter, "
                  f"trainer {statistics.median(ours):.4f} s/iter, identical final weights: {same}", flush=True)
    mean_ratio = statistics.mean(ours) / statistics.mean(bare)
    ratio = statistics.median(ours) / statistics.median(bare)
    print(f"bare loop: median {statistics.median(bare):.4f} s/iter, mean {statistics.mean(bare):.4f} ({len(bare)} its)")
    print(f"Trainer:   median {statistics.median(ours):.4f} s/iter, mean {statistics.mean(ours):.4f} ({len(ours)} its)")
    print(f"mean ratio {mean_ratio:.3f} (noisier on a shared machine)")
    print(f"result: train_overhead ratio={ratio:.3f} target<=1.10")


if __name__ == "__main__":
    main()
