"""detectron2's ``default_argument_parser`` flags and ``default_setup``: output dir, logging, config dump, seeding."""
import logging
import os
import random
import sys

import numpy as np
import torch

from localstyle.config import load_config
from localstyle.utils import comm
from localstyle.utils.cli import add_config_opts, add_launch_opts, argument_parser
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open
from localstyle.utils.logger import setup_logger


def default_argument_parser(epilog=None):
    """Parser with detectron2's training flags and trailing ``KEY VALUE`` config overrides."""
    parser = argument_parser(None, epilog=epilog or (
        "Examples:\n"
        "  Train on 8 GPUs:     train_net.py --num-gpus 8 --config-file cfg.yaml\n"
        "  Evaluate:            train_net.py --config-file cfg.yaml --eval-only MODEL.WEIGHTS model_final.pth\n"
        "  2 machines (run on each):\n"
        "    machine 0: train_net.py --num-gpus 8 --num-machines 2 --machine-rank 0 --dist-url tcp://ip0:port\n"
        "    machine 1: train_net.py --num-gpus 8 --num-machines 2 --machine-rank 1 --dist-url tcp://ip0:port\n"
        "  torchrun:            torchrun --nproc_per_node 8 train_net.py --config-file cfg.yaml\n"
        "Without CUDA, --num-gpus N starts N CPU processes that train together over gloo."
    ))
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUTPUT_DIR/last_checkpoint (model, optimizer, scheduler, iteration)")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate MODEL.WEIGHTS on DATASETS.TEST")
    add_launch_opts(parser)
    add_config_opts(parser)
    return parser


def seed_all_rng(seed):
    """Seed python ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_setup(cfg, args=None):
    """Create OUTPUT_DIR, set up logging to ``log.txt``, dump the merged ``config.yaml`` (main process), seed the
    RNGs with ``SEED + rank`` (or a random seed when SEED < 0) and apply CUDNN_BENCHMARK."""
    output_dir = cfg.OUTPUT_DIR
    rank = comm.get_rank()
    if comm.is_main_process():
        os.makedirs(output_dir, exist_ok=True)
    comm.synchronize()
    logger = setup_logger(output_dir, distributed_rank=rank, name="localstyle")
    backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else "none"
    logger.info(f"Rank of current process: {rank}. World size: {comm.get_world_size()}. Process group: "
                f"backend={backend}")
    logger.info(f"Python {sys.version.split()[0]}, torch {torch.__version__}, "
                f"CUDA available: {torch.cuda.is_available()}")
    if args is not None:
        logger.info(f"Command line arguments: {args}")
    if comm.is_main_process():
        path = os.path.join(output_dir, "config.yaml")
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(cfg.dump())
        logger.info(f"Full config saved to {path}")
    seed = cfg.SEED if cfg.SEED >= 0 else random.SystemRandom().randrange(2**31)
    seed_all_rng(seed + rank)
    torch.backends.cudnn.benchmark = cfg.CUDNN_BENCHMARK
    if cfg.FLOAT32_PRECISION:  # detectron2: "ieee" (full float32) or "tf32" for CUDA matmuls and convolutions
        torch.backends.cuda.matmul.fp32_precision = cfg.FLOAT32_PRECISION
        torch.backends.cudnn.fp32_precision = cfg.FLOAT32_PRECISION
    return logger


def build_config(args):
    """The config of ``--config-file`` plus the ``KEY VALUE`` opts, checked against the available devices."""
    cfg = load_config(args.config_file, args.opts)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise LocalstyleError(
            f"{args.config_file or 'config'}: MODEL.DEVICE is {cfg.MODEL.DEVICE} but CUDA is not available; "
            "add MODEL.DEVICE cpu"
        )
    if cfg.FLOAT32_PRECISION not in ("", "ieee", "tf32"):
        raise LocalstyleError(f"{args.config_file or 'config'}: FLOAT32_PRECISION must be '', 'ieee' or 'tf32', "
                              f"got {cfg.FLOAT32_PRECISION!r}")
    if getattr(args, "eval_only", False) and not cfg.DATASETS.TEST:
        raise LocalstyleError(f"{args.config_file or 'config'}: --eval-only needs DATASETS.TEST")
    return cfg


def auto_scale_workers(cfg, num_workers):
    """detectron2's linear scaling: with ``SOLVER.REFERENCE_WORLD_SIZE`` R > 0 and ``num_workers`` N != R processes,
    scale IMS_PER_BATCH and BASE_LR by N/R and MAX_ITER, WARMUP_ITERS, STEPS, EVAL_PERIOD, CHECKPOINT_PERIOD by R/N.
    Returns a (possibly new) config."""
    old = cfg.SOLVER.REFERENCE_WORLD_SIZE
    if old == 0 or old == num_workers:
        return cfg
    if cfg.SOLVER.IMS_PER_BATCH % old:
        raise LocalstyleError(f"SOLVER.IMS_PER_BATCH {cfg.SOLVER.IMS_PER_BATCH} is not divisible by "
                              f"SOLVER.REFERENCE_WORLD_SIZE {old}")
    cfg = cfg.clone()
    scale = num_workers / old
    s = cfg.SOLVER
    s.IMS_PER_BATCH = int(round(s.IMS_PER_BATCH * scale))
    s.BASE_LR = s.BASE_LR * scale
    s.MAX_ITER = int(round(s.MAX_ITER / scale))
    s.WARMUP_ITERS = int(round(s.WARMUP_ITERS / scale))
    s.STEPS = tuple(int(round(x / scale)) for x in s.STEPS)
    s.CHECKPOINT_PERIOD = int(round(s.CHECKPOINT_PERIOD / scale))
    cfg.TEST.EVAL_PERIOD = int(round(cfg.TEST.EVAL_PERIOD / scale))
    s.REFERENCE_WORLD_SIZE = num_workers
    logging.getLogger(__name__).info(
        f"Auto-scaling the config to {num_workers} processes: IMS_PER_BATCH={s.IMS_PER_BATCH}, BASE_LR={s.BASE_LR}, "
        f"MAX_ITER={s.MAX_ITER}, WARMUP_ITERS={s.WARMUP_ITERS}, STEPS={s.STEPS}")
    return cfg


def setup(args):
    """:func:`build_config`, scaled by :func:`auto_scale_workers`, frozen, then :func:`default_setup`."""
    cfg = auto_scale_workers(build_config(args), comm.get_world_size())
    cfg.freeze()
    default_setup(cfg, args)
    return cfg
