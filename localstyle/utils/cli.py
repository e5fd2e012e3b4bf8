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
