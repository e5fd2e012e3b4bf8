"""The argument-parser style every localstyle script shares (entry points, tools, datasets, benchmarks), and the
launch flags of the distributed entry points (train_net.py, stylize_net.py)."""
import argparse
import os


def argument_parser(doc, epilog=None):
    """A parser whose help is the script's docstring ``doc``, shown as written (its usage examples intact)."""
    return argparse.ArgumentParser(description=doc, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_config_opts(parser):
    """Add the trailing ``KEY VALUE`` config overrides (``args.opts``); call it after the other arguments."""
    parser.add_argument("opts", default=[], nargs=argparse.REMAINDER,
                        help="config overrides as KEY VALUE pairs, e.g. SOLVER.BASE_LR 0.01")
    return parser


def positive_int(text):
    """argparse ``type`` for counts that must be at least 1 (``--num-gpus``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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


def add_launch_opts(parser):
    """Add detectron2's launch flags: ``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``."""
    parser.add_argument("--num-gpus", type=positive_int, default=1,
                        help="processes per machine (GPUs, or CPU workers)")
    parser.add_argument("--num-machines", type=positive_int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine (unique per machine)")
    parser.add_argument("--dist-url", default="auto",
                        help="initialization URL for torch.distributed: 'auto' (free local port, one machine) "
                             "or tcp://<machine 0 host>:<port>")
    return parser


def launched_by_torchrun():
    """True when the environment describes a torchrun / torch.distributed.run worker."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ
