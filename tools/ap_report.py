#!/usr/bin/env python
"""AP report across training runs (train_net.py OUTPUT_DIRs): Markdown, CSV and a self-contained HTML page.

    python tools/ap_report.py output/person/mask_rcnn_R_50_FPN_1x output/person/mask_rcnn_R_101_FPN_3x \\
        --output reports/person

Writes OUTPUT/report.md, report.csv and report.html. Per run and evaluated dataset: box/mask AP, AP50, AP75,
APs/m/l, semantic-segmentation metrics when present, train s/iter, inference ms/image, iterations; the config
keys that differ between runs; and (HTML) plots of AP vs iteration, the losses and the precision-recall curves
at IoU 0.5 and 0.75, every run on shared axes, then per evaluation the precision-recall curves of each class (runs
with several classes) and the confusion matrix (score >= 0.3, IoU >= 0.5, as tools/confusion_matrix.py) when its
coco_instances_results.json and the ground truth its config registers are there.
"""
import os

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors
from localstyle.utils.file_io import ensure_writable_dir


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("output_dirs", nargs="+", metavar="RUN_DIR", help="train_net.py OUTPUT_DIRs")
    parser.add_argument("--output", required=True, help="folder for report.md, report.csv and report.html")
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.evaluation.report import write_report
    from localstyle.evaluation.runs import load_runs

    ensure_writable_dir(args.output, "--output")  # before reading the runs
    print(write_report(load_runs(args.output_dirs), args.output))
    for name in ("report.md", "report.csv", "report.html"):
        print(f"wrote {os.path.join(args.output, name)}")


if __name__ == "__main__":
    main()
