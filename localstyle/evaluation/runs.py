"""What a training run left in its OUTPUT_DIR, read back for reports: config, logged metrics, and every
evaluation (``inference[/<dataset>]/results.json`` with its ``pr_curves.npz`` and detections)."""
import dataclasses
import glob
import json
import math
import os
import re
import statistics

import yaml

from localstyle.engine.hooks import read_metrics
from localstyle.evaluation.coco_evaluation import METRIC_NAMES
from localstyle.evaluation.pr_curves import PR_CURVES_FILE, PRCurves
from localstyle.utils.errors import LocalstyleError

TASK_LABELS = {"bbox": "box", "segm": "mask"}
SEM_SEG_SUMMARY = ("mIoU", "fwIoU", "mACC", "pACC")
DETECTIONS_FILE = "coco_instances_results.json"  # written by COCOEvaluator next to results.json
# An evaluation logged to metrics.json: "bbox/AP", or "<dataset>/segm/AP" when several datasets are evaluated.
EVAL_KEY = re.compile(r"^(?:(?P<dataset>.+)/)?(?P<task>bbox|segm|sem_seg)/(?P<metric>AP|mIoU)$")


@dataclasses.dataclass
class Evaluation:
    """One ``results.json`` (detectron2's metrics per task, 0-100, plus ``timing``), its PR curves and the path of
    its ``coco_instances_results.json`` (None when absent)."""

    dataset: str
    results: dict
    pr_curves: PRCurves = None
    detections: str = None


@dataclasses.dataclass
class Run:
    """One train_net.py OUTPUT_DIR."""

    output_dir: str
    name: str
    config_name: str
    config: dict
    metrics: list
    evaluations: list

    @property
    def train_rows(self):
        return [r for r in self.metrics if "total_loss" in r]

    def eval_series(self):
        """``{(dataset, task, metric): [(iteration, value), ...]}`` of the periodic evaluations in metrics.json."""
        series = {}
        for row in self.metrics:
            for key, value in row.items():
                match = EVAL_KEY.match(key)
                if match and isinstance(value, (int, float)):
                    series.setdefault((match["dataset"] or "", match["task"], match["metric"]), []).append(
                        (row["iteration"], value))
        return series


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise LocalstyleError(f"{path}: cannot read JSON ({e})") from None


def _config_name(output_dir):
    """The --config-file recorded in log.txt, else the OUTPUT_DIR name."""
    log = os.path.join(output_dir, "log.txt")
    if os.path.isfile(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            match = re.search(r"config_file='([^']*)'", f.read())
        if match and match.group(1):
            return os.path.splitext(os.path.basename(match.group(1)))[0]
    return os.path.basename(os.path.normpath(output_dir))


def load_run(output_dir, name=None):
    """Read one OUTPUT_DIR; a folder without ``config.yaml`` raises a one-line error."""
    cfg_path = os.path.join(output_dir, "config.yaml")
    if not os.path.isfile(cfg_path):
        raise LocalstyleError(f"{output_dir}: no config.yaml (not a train_net.py OUTPUT_DIR)")
    with open(cfg_path, encoding="utf-8") as f:
        try:
            config = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise LocalstyleError(f"{cfg_path}: not valid YAML ({str(e).splitlines()[0]})") from None
    metrics_path = os.path.join(output_dir, "metrics.json")
    metrics = read_metrics(metrics_path) if os.path.isfile(metrics_path) else []
    evaluations = []
    for path in sorted(glob.glob(os.path.join(output_dir, "inference", "results.json"))
                       + glob.glob(os.path.join(output_dir, "inference", "*", "results.json"))):
        results = _read_json(path)
        pr_path = os.path.join(os.path.dirname(path), PR_CURVES_FILE)
        pr_curves = PRCurves.load(pr_path) if os.path.isfile(pr_path) else None
        detections = os.path.join(os.path.dirname(path), DETECTIONS_FILE)
        evaluations.append(Evaluation(results.get("dataset", ""), results, pr_curves,
                                      detections if os.path.isfile(detections) else None))
    name = name or os.path.basename(os.path.normpath(output_dir))
    return Run(output_dir, name, _config_name(output_dir), config, metrics, evaluations)


def load_runs(output_dirs):
    """``load_run`` for each folder, named by the shortest path tail that tells them apart."""
    parts = [os.path.normpath(os.path.abspath(d)).split(os.sep) for d in output_dirs]
    depth = 1
    while depth < max(len(p) for p in parts) and len({tuple(p[-depth:]) for p in parts}) < len(parts):
        depth += 1
    return [load_run(d, "/".join(p[-depth:])) for d, p in zip(output_dirs, parts)]


def _flatten(tree, prefix=""):
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(runs, ignore=("OUTPUT_DIR",)):
    """``{key: [value per run]}`` for the config keys whose values differ between runs (missing: ``None``)."""
    flat = [_flatten(r.config) for r in runs]
    keys = sorted(set().union(*flat) - set(ignore))
    return {k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1}


def _backbone(config):
    model = config.get("MODEL", {})
    name = model.get("BACKBONE", {}).get("NAME", "")
    depth = model.get("RESNETS", {}).get("DEPTH", "")
    return f"R{depth}-FPN" if "fpn" in name.lower() else name


def training_run(run):
    """The run that trained ``run``'s weights: ``run`` itself, or for an ``--eval-only`` run (nothing trained) the
    OUTPUT_DIR holding its MODEL.WEIGHTS when that folder has a config.yaml."""
    weights = run.config.get("MODEL", {}).get("WEIGHTS") or ""
    folder = os.path.dirname(weights)
    if run.train_rows or not folder or not os.path.isfile(os.path.join(folder, "config.yaml")):
        return run
    return load_run(folder)


def summary_rows(runs):
    """The report table: one ``{column: value}`` per (run, evaluated dataset); absent values are ``""``. The
    schedule of an eval-only run is that of the run that trained its weights."""
    rows = []
    for run in runs:
        trained = training_run(run)
        train = run.train_rows
        schedule = re.search(r"_(\d+x)\b", trained.config_name)
        max_iter = trained.config.get("SOLVER", {}).get("MAX_ITER", "")
        base = {
            "run": run.name, "config": run.config_name, "backbone": _backbone(run.config),
            "schedule": schedule.group(1) if schedule else f"{max_iter} it",
            "iterations": train[-1]["iteration"] + 1 if train else "",
            "train s/iter": statistics.mean(r["time"] for r in train if "time" in r) if train else "",
        }
        for ev in run.evaluations or [Evaluation("", {})]:
            row = dict(base, dataset=ev.dataset,
                       **{"inference ms/image": ev.results.get("timing", {}).get("inference_ms_per_image", "")})
            for task, label in TASK_LABELS.items():
                for metric in METRIC_NAMES:
                    row[f"{label} {metric}"] = ev.results.get(task, {}).get(metric, "")
            for key, value in ev.results.get("sem_seg", {}).items():
                row[f"sem_seg {key}"] = value
            rows.append(row)
    return rows


def columns(rows, per_class=False):
    """Column order: run facts, box and mask AP, then semantic metrics present in any row (their summary, or with
    ``per_class`` every per-class metric as well); columns empty in every row are dropped."""
    fixed = ["run", "config", "dataset", "backbone", "schedule", "iterations", "train s/iter", "inference ms/image"]
    fixed += [f"{label} {m}" for label in TASK_LABELS.values() for m in METRIC_NAMES]
    order = {f"sem_seg {m}": i for i, m in enumerate(SEM_SEG_SUMMARY)}
    sem = sorted({k for r in rows for k in r if k.startswith("sem_seg ")},
                 key=lambda k: (order.get(k, len(order)), not k.startswith("sem_seg Boundary"), k))
    if not per_class:
        sem = [k for k in sem if k[8:] in SEM_SEG_SUMMARY or k.startswith("sem_seg Boundary")]
    return [c for c in fixed + sem if any(r.get(c, "") != "" for r in rows) or c in ("run", "box AP")]


DECIMALS = {"train s/iter": 4, "inference ms/image": 1}


def format_value(column, value):
    """Table cell text: floats with 2 decimals (4 for s/iter, 1 for ms/image; NaN as "nan"), the rest as is."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{DECIMALS.get(column, 2)}f}"
    return "" if value is None else str(value)
