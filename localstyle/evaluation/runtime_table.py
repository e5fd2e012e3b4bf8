"""Accuracy and speed per predictor runtime x precision on one dataset (``tools/benchmark.py --task runtimes``):
box and mask AP, ms/image, speed-up over eager fp32, model file size and whether the CPU runs the precision natively.
"""
import csv
import io
import logging
import os
from dataclasses import astuple, dataclass, fields

from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)

# (MODEL.RUNTIME, MODEL.PRECISION) rows, eager fp32 first: the baseline of the speed-ups
RUNS = (("eager", "fp32"), ("eager", "bf16"), ("onnxruntime", "fp32"), ("torchscript", "fp32"), ("openvino", "fp32"),
        ("openvino", "bf16"), ("openvino", "int8"))


@dataclass
class RuntimeRow:
    """One runtime x precision: AP in points, ms/image (model only, after warm-up), MB of the model file(s)."""

    runtime: str
    precision: str
    box_ap: float
    mask_ap: float
    ms_per_image: float
    speedup: float
    file_mb: float
    cpu: str  # native / emulated / unknown (localstyle.utils.cpu_features)


def model_file_mb(cfg, runtime):
    """MB on disk of what ``runtime`` runs: the exported file (with an IR's .bin), else MODEL.WEIGHTS."""
    path = getattr(runtime, "path", None) or cfg.MODEL.WEIGHTS
    if not os.path.isfile(path):
        return float("nan")
    size = os.path.getsize(path)
    if path.endswith(".xml") and os.path.isfile(path[:-4] + ".bin"):
        size += os.path.getsize(path[:-4] + ".bin")
    return size / 2**20


def measure(cfg, runtime_name, precision):
    """(box AP, mask AP, ms/image, file MB) of ``cfg``'s model under one runtime and precision on DATASETS.TEST[0]."""
    from localstyle.data.build import build_detection_test_loader
    from localstyle.evaluation import COCOEvaluator, inference_on_dataset
    from localstyle.export.runtimes import build_runtime

    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.RUNTIME, cfg.MODEL.PRECISION, cfg.MODEL.EXPORTED = runtime_name, precision, ""
    runtime = build_runtime(cfg)
    dataset = cfg.DATASETS.TEST[0]
    res = inference_on_dataset(runtime, build_detection_test_loader(cfg, dataset), COCOEvaluator(dataset, None, False))
    return res["bbox"]["AP"], res["segm"]["AP"], res["timing"]["inference_ms_per_image"], model_file_mb(cfg, runtime)


def parse_runs(text):
    """``"eager:fp32,openvino:int8"`` -> ``(("eager", "fp32"), ("openvino", "int8"))``."""
    runs = tuple(tuple(item.split(":")) for item in text.split(",") if item)
    if not runs or any(len(r) != 2 for r in runs):
        raise LocalstyleError(f"--runs {text!r}: use RUNTIME:PRECISION pairs separated by commas, e.g. eager:fp32")
    return runs


def runtime_table(cfg, runs=RUNS):
    """A :class:`RuntimeRow` per (MODEL.RUNTIME, MODEL.PRECISION) run that can be built here (a run that cannot, e.g. int8 without calibration
    images, is logged in one line and left out)."""
    from localstyle.data import register_datasets_from_cfg
    from localstyle.utils.cpu_features import precision_support

    register_datasets_from_cfg(cfg)
    if not cfg.DATASETS.TEST:
        raise LocalstyleError("--task runtimes measures AP on DATASETS.TEST[0]: set DATASETS.TEST")
    rows, base_ms = [], None
    for runtime_name, precision in runs:
        try:
            box, mask, ms, mb = measure(cfg, runtime_name, precision)
        except LocalstyleError as e:
            logger.warning("%s %s left out of the table: %s", runtime_name, precision, e)
            continue
        base_ms = base_ms or (ms if (runtime_name, precision) == ("eager", "fp32") else None)
        rows.append(RuntimeRow(runtime_name, precision, box, mask, ms, base_ms / ms if base_ms else float("nan"), mb,
                               precision_support(precision)))
        logger.info("%s", rows[-1])
    return rows


def write_runtime_table(rows, output_dir):
    """``runtimes.md`` and ``runtimes.csv`` under ``output_dir``; returns the Markdown."""
    from localstyle.evaluation.tables import markdown_table
    from localstyle.utils.file_io import atomic_open

    headers = ["runtime", "precision", "box AP", "mask AP", "ms/image", "speed-up vs eager fp32", "file MB", "CPU"]
    text = markdown_table(headers, [astuple(r) for r in rows])
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([f.name for f in fields(RuntimeRow)])
    writer.writerows(astuple(r) for r in rows)
    os.makedirs(output_dir, exist_ok=True)
    for name, content in (("runtimes.md", text + "\n"), ("runtimes.csv", buf.getvalue())):
        with atomic_open(os.path.join(output_dir, name)) as f:
            f.write(content)
    return text
