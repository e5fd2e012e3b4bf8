#!/usr/bin/env python
"""Build the COCO 2017 person subset: person-only annotation files, a drop report, optional image links.

    python datasets/prepare_coco_person.py --coco-root ROOT [--output datasets/coco_person] \\
        [--splits train2017 val2017] [--check-images] [--link-images none|symlink|copy] [--keep-crowd-only]

See datasets/README.md. The logic lives in localstyle.data.person_subset.
"""
import os

from localstyle.data.person_subset import LINK_MODES, format_report, prepare_person_subset
from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--coco-root", required=True,
                   help="COCO 2017 root holding annotations/instances_{split}.json and {split}/*.jpg")
    p.add_argument("--output", default=os.path.join("datasets", "coco_person"),
                   help="output directory (default: datasets/coco_person, where the built-in datasets look)")
    p.add_argument("--splits", nargs="+", default=["train2017", "val2017"])
    p.add_argument("--check-images", action="store_true",
                   help="fully decode every kept image and drop undecodable or wrongly sized ones")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="processes for --check-images")
    p.add_argument("--link-images", choices=LINK_MODES, default="none",
                   help="put the kept images under OUTPUT/{split}/ as symlinks or copies "
                        "(none: the datasets read them from COCO_ROOT/{split}, recorded in OUTPUT/report.json)")
    p.add_argument("--keep-crowd-only", action="store_true",
                   help="keep images whose only person annotations are crowd regions")
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    report = prepare_person_subset(args.coco_root, args.output, args.splits, args.check_images,
                                   args.link_images, args.keep_crowd_only, args.workers)
    print(format_report(report, args.splits))
    print(f"wrote {os.path.join(args.output, 'report.json')}")


if __name__ == "__main__":
    main()
