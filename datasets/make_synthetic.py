#!/usr/bin/env python
"""Generate the synthetic people set (COCO format) used by the CPU training demo and tests.

    python datasets/make_synthetic.py [--output datasets/synthetic] [--num-train 64] [--num-val 16] \\
        [--size 192] [--seed 0]

Writes OUTPUT/annotations/instances_{train,val}.json and OUTPUT/{train,val}/*.png; registered as the
built-in datasets synthetic_train / synthetic_val (under $LOCALSTYLE_DATASETS, default ./datasets).
"""
import os

from localstyle.data.synthetic import make_synthetic
from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--output", default=os.path.join("datasets", "synthetic"))
    p.add_argument("--num-train", type=int, default=64)
    p.add_argument("--num-val", type=int, default=16)
    p.add_argument("--size", type=int, default=192, help="image side in pixels (square images)")
    p.add_argument("--seed", type=int, default=0)
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.size < 64 or args.num_train < 0 or args.num_val < 0:
        raise LocalstyleError("--size must be >= 64 and --num-train/--num-val >= 0")
    for split, json_file in make_synthetic(args.output, args.num_train, args.num_val, args.size, args.seed).items():
        print(f"{split}: {json_file}")


if __name__ == "__main__":
    main()
