#!/usr/bin/env python
"""One Markdown + CSV table comparing training runs (OUTPUT_DIRs of train_net.py).

    python benchmarks/ap_table.py output/person/mask_rcnn_R_50_FPN_1x output/person/mask_rcnn_R_101_FPN_3x \
        [--md ap_table.md] [--csv ap_table.csv]

Per run (and per evaluated dataset) it reads config.yaml, metrics.json (train s/iter: mean of the logged
20-iteration median times) and inference[/<dataset>]/results.json (AP on detectron2's 0-100 scale, inference
ms/image measured during evaluation). Missing pieces show as empty cells.
"""
import csv
import glob
import io
import json
import os
import re
import statistics

import yaml

from localstyle.engine.hooks import read_metrics
from localstyle.evaluation.tables import markdown_table
from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors
from localstyle.utils.file_io import atomic_open

HEADERS = ["config", "dataset", "backbone", "schedule", "iterations", "box AP", "mask AP", "box AP50", "box AP75",
           "mask AP50", "mask AP75", "train s/iter", "inference ms/image"]


def _config_name(output_dir):
    """The --config-file recorded in log.txt, else the OUTPUT_DIR name."""
    log = os.path.join(output_dir, "log.txt")
    if os.path.isfile(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            match = re.search(r"config_file='([^']*)'", f.read())
        if match and match.group(1):
            return os.path.splitext(os.path.basename(match.group(1)))[0]
    return os.path.basename(os.path.normpath(output_dir))


def run_rows(output_dir):
    """Table rows (dicts keyed by HEADERS) for one OUTPUT_DIR: one per evaluated dataset."""
    cfg_path = os.path.join(output_dir, "config.yaml")
    if not os.path.isfile(cfg_path):
        raise LocalstyleError(f"{output_dir}: no config.yaml (not a train_net.py OUTPUT_DIR)")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    model = cfg["MODEL"]
    fpn = "FPN" if "fpn" in model["BACKBONE"]["NAME"] else model["BACKBONE"]["NAME"]
    name = _config_name(output_dir)
    schedule = re.search(r"_(\d+x)\b", name)
    metrics = os.path.join(output_dir, "metrics.json")
    train = [r for r in (read_metrics(metrics) if os.path.isfile(metrics) else []) if "total_loss" in r]
    base = {
        "config": name,
        "backbone": f"R{model['RESNETS']['DEPTH']}-{fpn}",
        "schedule": schedule.group(1) if schedule else f"{cfg['SOLVER']['MAX_ITER']} it",
        "iterations": train[-1]["iteration"] + 1 if train else "",
        "train s/iter": statistics.mean(r["time"] for r in train) if train else "",
    }
    results = sorted(glob.glob(os.path.join(output_dir, "inference", "results.json"))
                     + glob.glob(os.path.join(output_dir, "inference", "*", "results.json")))
    rows = []
    for path in results or [None]:
        row = dict(base, dataset="")
        if path:
            with open(path, encoding="utf-8") as f:
                res = json.load(f)
            box, mask = res.get("bbox", {}), res.get("segm", {})
            row.update({"dataset": res.get("dataset", ""), "box AP": box.get("AP", ""), "mask AP": mask.get("AP", ""),
                        "box AP50": box.get("AP50", ""), "box AP75": box.get("AP75", ""),
                        "mask AP50": mask.get("AP50", ""), "mask AP75": mask.get("AP75", ""),
                        "inference ms/image": res.get("timing", {}).get("inference_ms_per_image", "")})
        rows.append(row)
    return rows


def build_table(output_dirs):
    """``(markdown, csv_text)`` for the runs in ``output_dirs``."""
    rows = [row for d in output_dirs for row in run_rows(d)]
    formats = {"train s/iter": "{:.4f}", "inference ms/image": "{:.1f}"}

    def cell(row, h):
        value = row.get(h, "")
        return formats[h].format(value) if h in formats and value != "" else value

    md = markdown_table(HEADERS, [[cell(row, h) for h in HEADERS] for row in rows])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADERS)
    writer.writeheader()
    writer.writerows(rows)
    return md, buf.getvalue()


@cli_errors
def main(argv=None):
    parser = argument_parser(__doc__)
    parser.add_argument("output_dirs", nargs="+", help="train_net.py OUTPUT_DIRs")
    parser.add_argument("--md", help="also write the Markdown table here")
    parser.add_argument("--csv", help="also write the CSV table here")
    args = parser.parse_args(argv)
    md, csv_text = build_table(args.output_dirs)
    print(md)
    for path, text in ((args.md, md + "\n"), (args.csv, csv_text)):
        if path:
            with atomic_open(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
