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


def add_launch_opts(parser):
    """Add detectron2's launch flags: ``--num-gpus``, ``--num-machines``, ``--machine-rank``, ``--dist-url``."""
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per machine (GPUs, or CPU workers)")
    parser.add_argument("--num-machines", type=int, default=1, help="total number of machines")
    parser.add_argument("--machine-rank", type=int, default=0, help="the rank of this machine (unique per machine)")
    parser.add_argument("--dist-url", default="auto",
                        help="initialization URL for torch.distributed: 'auto' (free local port, one machine) "
                             "or tcp://<machine 0 host>:<port>")
    return parser


def launched_by_torchrun():
    """True when the environment describes a torchrun / torch.distributed.run worker."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ
