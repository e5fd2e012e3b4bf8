#!/usr/bin/env python
"""Confusion matrix of a detector's results (MMDetection's definition), as a normalized heatmap and a CSV.

    python tools/confusion_matrix.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml \\
        --results output/run/inference/coco_instances_results.json --output output/run/confusion \\
        [--score-thresh 0.3] [--iou-thresh 0.5] [--dataset NAME] [KEY VALUE ...]

The ground truth is the registered dataset (--dataset, else the config's first DATASETS.TEST), over the run's
classes (DATASETS.CLASSES, else all). Per image, every detection scoring at least --score-thresh is matched to
every ground-truth box it overlaps with box IoU >= --iou-thresh and counted at (its class, the box's class); a
detection matching no box counts in the background row, a box without a detection of its class in the background
column. Writes OUTPUT/confusion_matrix.csv (counts: rows ground truth, columns detections) and
OUTPUT/confusion_matrix.png (each row as percent of its sum).
"""
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="", help="the run's config (registers the dataset)")
    parser.add_argument("--results", required=True, help="coco_instances_results.json of an evaluation")
    parser.add_argument("--output", required=True, help="folder for confusion_matrix.png and confusion_matrix.csv")
    parser.add_argument("--score-thresh", type=float, default=0.3, help="count detections scoring at least this")
    parser.add_argument("--iou-thresh", type=float, default=0.5, help="box IoU at which a detection matches")
    parser.add_argument("--dataset", help="registered dataset holding the ground truth (default: DATASETS.TEST[0])")
    return add_config_opts(parser)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.evaluation.confusion_matrix import confusion_matrix_of_results, save_confusion_matrix

    cfg = load_config(args.config_file, args.opts)
    name, matrix = confusion_matrix_of_results(cfg, args.results, args.dataset, args.score_thresh, args.iou_thresh)
    paths = save_confusion_matrix(matrix, args.output, title=f"{name}: score >= {args.score_thresh:g}, "
                                                           f"IoU >= {args.iou_thresh:g}")
    width = max(len(label) for label in matrix.labels) + 2
    print(" " * width + "".join(f"{label:>{width}}" for label in matrix.labels) + "   (rows: ground truth)")
    for label, row in zip(matrix.labels, matrix.counts):
        print(f"{label:<{width}}" + "".join(f"{int(v):>{width}}" for v in row))
    print("wrote " + " and ".join(paths))


if __name__ == "__main__":
    main()
