"""AP and semantic tables: Markdown rendering and the saved evaluation summary (``inference/results.json`` + ``ap_table.md``)."""
import math
import os

from localstyle.utils.file_io import atomic_open, atomic_write_json

from localstyle.evaluation.coco_evaluation import METRIC_NAMES


def _fmt(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def markdown_table(headers, rows):
    """A GitHub Markdown table; floats with 2 decimals."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(":---:" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def format_ap_table(results):
    """Markdown table of one evaluation: a row per task (bbox, segm) with AP, AP50, AP75, APs, APm, APl."""
    rows = [[task] + [metrics[m] for m in METRIC_NAMES]
            for task, metrics in results.items() if task in ("bbox", "segm")]
    return markdown_table(["task", *METRIC_NAMES], rows)


def format_sem_seg_table(metrics):
    """Markdown table of the semantic figures: mIoU, fwIoU, mACC, pACC, BoundaryIoU, then per-class IoU and
    Boundary IoU."""
    names = ["mIoU", "fwIoU", "mACC", "pACC", "BoundaryIoU"]
    names += [k for k in metrics if k.startswith("IoU-") or k.startswith("BoundaryIoU-")]
    return markdown_table(names, [[metrics[k] for k in names]])


def format_results_tables(results):
    """The AP table (when bbox/segm figures exist) and the semantic table (when ``sem_seg`` exists)."""
    tables = [format_ap_table(results)] if any(t in results for t in ("bbox", "segm")) else []
    if "sem_seg" in results:
        tables.append(format_sem_seg_table(results["sem_seg"]))
    return "\n\n".join(tables)


def save_evaluation(results, output_dir, extra=None):
    """Write ``results`` (plus ``extra`` fields such as iteration) to ``output_dir/results.json`` and the tables
    (:func:`format_results_tables`) to ``output_dir/ap_table.md``; returns them."""
    table = format_results_tables(results)
    atomic_write_json(os.path.join(output_dir, "results.json"), {**(extra or {}), **results}, indent=2)
    with atomic_open(os.path.join(output_dir, "ap_table.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    return table
