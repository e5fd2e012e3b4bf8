"""The argument-parser style every localstyle script shares (entry points, tools, datasets, benchmarks)."""
import argparse


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
