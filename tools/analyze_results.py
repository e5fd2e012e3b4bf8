#!/usr/bin/env python
"""Per-image analysis of a COCO results file (like MMDetection's analyze_results): the k best and worst images
by per-image AP, drawn as ground truth | predictions, and COCO's error breakdown as a plot.

    python tools/analyze_results.py output/run/inference/coco_instances_results.json --output analysis \\
        --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml [--dataset NAME] [--topk 20] [--show-score-thr 0.3]

The ground truth is the registered dataset (--dataset, else the config's first DATASETS.TEST). Writes
OUTPUT/per_image_ap.csv, OUTPUT/best/*.jpg and OUTPUT/worst/*.jpg (rank, image, AP), and per task (bbox, segm)
OUTPUT/error_breakdown_<task>.png with the numbers in OUTPUT/error_breakdown.json: precision-recall at IoU .75
(C75), .5 (C50), .1 (Loc), forgiving same-supercategory (Sim) and any class confusion (Oth), all remaining
false positives (BG: background and duplicates), and all misses (FN).
"""
import csv
import math
import os

from tqdm import tqdm

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors
from localstyle.utils.file_io import atomic_open, atomic_write_json


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("results", help="coco_instances_results.json")
    parser.add_argument("--output", required=True, help="folder for the pictures, plots and tables")
    parser.add_argument("--config-file", default="", help="config registering the dataset (DATASETS.REGISTER_COCO)")
    parser.add_argument("--dataset", help="registered dataset holding the ground truth (default: DATASETS.TEST[0])")
    parser.add_argument("--topk", type=int, default=20, help="how many best and worst images to draw")
    parser.add_argument("--show-score-thr", type=float, default=0.3, help="draw predictions scoring at least this")
    parser.add_argument("--task", choices=("bbox", "segm"), help="rank by this AP (default: segm when present)")
    return parser


def _draw(records, results_by_image, aps, meta, folder, score_thresh):
    from localstyle.evaluation.visualizer import prediction_vs_truth
    from localstyle.utils.image_io import read_image, write_image

    for rank, image_id in enumerate(aps, 1):
        record = records[image_id]
        image = read_image(record["file_name"])
        picture = prediction_vs_truth(image, record, results_by_image.get(image_id, []), meta, score_thresh,
                                      caption=f"predictions, AP {aps[image_id]:.1f}")
        stem = os.path.splitext(os.path.basename(record["file_name"]))[0]
        write_image(os.path.join(folder, f"{rank:02d}_{stem}.jpg"), picture)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.data import resolve_dataset
    from localstyle.data.coco import load_coco_api
    from localstyle.evaluation.analysis import error_breakdown, per_image_ap, plot_error_breakdown
    from localstyle.evaluation.coco_evaluation import read_results_json

    cfg = load_config(args.config_file) if args.config_file else None
    name, dicts, meta = resolve_dataset(args.dataset, cfg)
    results = read_results_json(args.results)
    coco_gt = load_coco_api(meta.json_file)
    records = {d["image_id"]: d for d in dicts}
    unknown = {r["image_id"] for r in results} - set(records)
    if unknown:
        raise LocalstyleError(f"{args.results}: {len(unknown)} image id(s) not in dataset {name} (e.g. "
                              f"{sorted(unknown)[:3]}); pass the dataset it was evaluated on with --dataset")
    cat_ids = sorted(meta.thing_dataset_id_to_contiguous_id)
    tasks = ["bbox"] + (["segm"] if results and all("segmentation" in r for r in results) else [])
    if args.task and args.task not in tasks:
        raise LocalstyleError(f"{args.results}: no masks in the results, --task segm is not possible")
    rank_task = args.task or tasks[-1]
    aps = {task: per_image_ap(coco_gt, results, task, cat_ids) for task in tasks}
    with atomic_open(os.path.join(args.output, "per_image_ap.csv"), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image_id", "file_name", "ground truth", "predictions", *(f"{t} AP" for t in tasks)])
        for image_id, record in records.items():
            writer.writerow([image_id, record["file_name"], len(record.get("annotations", [])),
                             sum(r["image_id"] == image_id for r in results), *(aps[t][image_id] for t in tasks)])
    ranked = [i for i, ap in aps[rank_task].items() if not math.isnan(ap)]
    results_by_image = {}
    for r in results:
        results_by_image.setdefault(r["image_id"], []).append(r)
    picks = {"best": sorted(ranked, key=lambda i: (-aps[rank_task][i], i))[:args.topk],
             "worst": sorted(ranked, key=lambda i: (aps[rank_task][i], i))[:args.topk]}
    for folder, ids in tqdm(picks.items(), desc="drawing", disable=None):
        _draw(records, results_by_image, {i: aps[rank_task][i] for i in ids}, meta,
              os.path.join(args.output, folder), args.show_score_thr)
    summary = {}
    for task in tasks:
        breakdown = error_breakdown(coco_gt, results, task, cat_ids)
        if breakdown is None:
            continue
        summary[task] = breakdown.ap()
        fig = plot_error_breakdown(breakdown, f"{name} {task}")
        with atomic_open(os.path.join(args.output, f"error_breakdown_{task}.png"), "wb") as f:
            fig.savefig(f, format="png", dpi=90)
        print(f"{task}: " + ", ".join(f"{t} {100 * v:.1f}" for t, v in summary[task]["all"].items()))
    atomic_write_json(os.path.join(args.output, "error_breakdown.json"), summary, indent=2)
    print(f"ranked {len(ranked)} images of {name} by {rank_task} AP; wrote {args.output}/per_image_ap.csv, "
          f"best/, worst/ ({len(picks['best'])} each), error_breakdown_*.png")


if __name__ == "__main__":
    main()
