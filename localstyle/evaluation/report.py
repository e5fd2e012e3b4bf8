"""The AP report across training runs: ``report.md``, ``report.csv`` and a self-contained ``report.html``
(inline SVG plots and CSS only: it makes no network request)."""
import csv
import html
import io
import json
import os

from localstyle.config import load_config
from localstyle.evaluation import report_plots
from localstyle.evaluation.confusion_matrix import confusion_matrix_of_results
from localstyle.evaluation.runs import columns, config_diff, format_value, summary_rows
from localstyle.evaluation.tables import markdown_table
from localstyle.utils.errors import LocalstyleError, one_line
from localstyle.utils.file_io import atomic_open

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:13px;
margin-bottom:1em}th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#eee}
td:first-child,th:first-child{text-align:left}figure{margin:0 0 1.5em 0}svg{max-width:100%;height:auto}
.scroll{overflow-x:auto;max-width:100%}"""


def _cells(rows, cols):
    return [[format_value(c, r.get(c, "")) for c in cols] for r in rows]


def _diff_rows(runs, diff):
    return ["key", *(r.name for r in runs)], [[k, *(json.dumps(v) for v in values)] for k, values in diff.items()]


def markdown_report(runs, rows, diff):
    """The Markdown report: the summary table and the config differences."""
    cols = columns(rows)
    parts = ["# AP report", "", markdown_table(cols, _cells(rows, cols)), ""]
    per_class = [c for c in columns(rows, per_class=True) if c not in cols]
    if per_class:
        parts += ["## Semantic segmentation per class", "",
                  markdown_table(["run", "dataset", *per_class], _cells(rows, ["run", "dataset", *per_class])), ""]
    if diff:
        parts += ["## Config differences", "", markdown_table(*_diff_rows(runs, diff)), ""]
    return "\n".join(parts)


def csv_report(rows, diff, runs):
    """CSV: every column of every row, plus one ``config:<KEY>`` column per differing config key."""
    cols = columns(rows, per_class=True)
    names = [r.name for r in runs]
    extra = {f"config:{k}": dict(zip(names, (json.dumps(v) for v in values))) for k, values in diff.items()}
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(cols + list(extra))
    for row in rows:
        writer.writerow([row.get(c, "") for c in cols] + [by_run[row["run"]] for by_run in extra.values()])
    return buf.getvalue()


def _html_table(headers, cells):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in cells)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def confusion_matrices(runs):
    """``([(title, ConfusionMatrix)], [note])``: the confusion matrix (default thresholds) of every evaluation whose
    detections are there, against the ground truth its run's config.yaml registers; a note for each that fails."""
    matrices, notes = [], []
    several = len({ev.dataset for run in runs for ev in run.evaluations}) > 1
    for run in runs:
        for ev in run.evaluations:
            if ev.detections is None:
                continue
            title = f"{run.name} ({ev.dataset})" if several else run.name
            try:
                cfg = load_config(os.path.join(run.output_dir, "config.yaml"))
                matrices.append((title, confusion_matrix_of_results(cfg, ev.detections, ev.dataset or None)[1]))
            except LocalstyleError as e:
                notes.append(f"{title}: no confusion matrix ({one_line(e)})")
    return matrices, notes


def _figure(fig, notes=()):
    body = "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    if fig is None:
        return body or "<p>No data in these runs.</p>"
    return f'<figure class="plot">{report_plots.figure_svg(fig)}</figure>{body}'


def html_report(runs, rows, diff):
    """The HTML page: tables, then the AP-vs-iteration, loss, precision-recall (mean and, with several classes,
    per class) and confusion-matrix figures as inline SVG."""
    cols = columns(rows)
    sections = [("Summary", _html_table(cols, _cells(rows, cols)))]
    per_class = [c for c in columns(rows, per_class=True) if c not in cols]
    if per_class:
        sections.append(("Semantic segmentation per class",
                         _html_table(["run", "dataset", *per_class], _cells(rows, ["run", "dataset", *per_class]))))
    if diff:
        sections.append(("Config differences", _html_table(*_diff_rows(runs, diff))))
    for title, make in (("AP vs iteration", report_plots.ap_vs_iteration), ("Loss curves", report_plots.loss_curves),
                        ("Precision-recall curves", report_plots.pr_curves)):
        sections.append((title, _figure(make(runs))))
    per_class = report_plots.class_pr_curves(runs)
    if per_class is not None:
        sections.append(("Precision-recall curves per class", _figure(per_class)))
    matrices, notes = confusion_matrices(runs)
    if matrices or notes:
        sections.append(("Confusion matrices", _figure(report_plots.confusion_matrices(matrices), notes)))
    runs_list = "".join(f"<li><code>{html.escape(r.name)}</code>: {html.escape(os.path.abspath(r.output_dir))}</li>"
                        for r in runs)
    body = "".join(f'<section><h2>{html.escape(t)}</h2>{b}</section>' for t, b in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>AP report</title>'
            f"<style>{STYLE}</style></head><body><h1>AP report</h1><ul>{runs_list}</ul>{body}</body></html>\n")


def write_report(runs, output_dir):
    """Write ``report.md``, ``report.csv`` and ``report.html`` under ``output_dir``; returns the Markdown."""
    rows, diff = summary_rows(runs), config_diff(runs)
    md = markdown_report(runs, rows, diff)
    texts = {"report.md": md, "report.csv": csv_report(rows, diff, runs), "report.html": html_report(runs, rows, diff)}
    for name, text in texts.items():
        with atomic_open(os.path.join(output_dir, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return md
