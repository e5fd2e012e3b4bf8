"""The AP report's figures (matplotlib, rendered to inline SVG): AP vs iteration, loss curves and
precision-recall curves, each comparing every run on shared axes; per-class precision-recall curves and
confusion matrices, per evaluation."""
import functools
import io

from localstyle.evaluation.confusion_matrix import plot_confusion_matrix
from localstyle.evaluation.runs import TASK_LABELS

PR_IOUS = (0.5, 0.75)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_svg(fig):
    """The figure as an ``<svg>`` element (text drawn as paths: no fonts to fetch), and closes it."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _pyplot().close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _label(run, dataset, several_datasets):
    return f"{run.name} ({dataset})" if several_datasets and dataset else run.name


def _grid(n_rows, n_cols, width=4.2, height=3.2):
    fig, axes = _pyplot().subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), sharex=True,
                                   sharey=True, squeeze=False)
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    return fig, axes


def ap_vs_iteration(runs):
    """AP (mIoU for semantic segmentation) at every evaluation of every run, one panel per task; ``None``
    when no run logged an evaluation."""
    series = [(run, key, points) for run in runs for key, points in sorted(run.eval_series().items())]
    if not series:
        return None
    tasks = [t for t in ("bbox", "segm", "sem_seg") if any(key[1] == t for _, key, _ in series)]
    several = len({key[0] for _, key, _ in series}) > 1
    fig, axes = _grid(1, len(tasks))
    for ax, task in zip(axes[0], tasks):
        for run, (dataset, t, metric), points in series:
            if t == task:
                ax.plot(*zip(*points), marker="o", markersize=3, label=_label(run, dataset, several))
        metric = "mIoU" if task == "sem_seg" else "AP"
        ax.set_title(f"{TASK_LABELS.get(task, task)} {metric}")
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("0-100")
    fig.tight_layout()
    return fig


def loss_curves(runs):
    """Every logged loss of every run against iteration (log scale), one panel per loss; ``None`` without any."""
    keys = sorted({k for run in runs for r in run.train_rows for k in r if k.startswith("loss")})
    keys = ["total_loss"] + keys if any(run.train_rows for run in runs) else []
    if not keys:
        return None
    cols = min(3, len(keys))
    fig, axes = _grid((len(keys) + cols - 1) // cols, cols, height=2.8)
    for ax, key in zip(axes.flat, keys):
        for run in runs:
            points = [(r["iteration"], r[key]) for r in run.train_rows if key in r]
            if points:
                ax.plot(*zip(*points), label=run.name, linewidth=1.2, marker="o", markersize=2)
        ax.set_title(key)
        ax.set_yscale("log")
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def pr_curves(runs):
    """Precision-recall at IoU 0.5 and 0.75 (area all, 100 detections, mean over categories): one row per task,
    one column per IoU, one line per run and dataset; ``None`` when no run saved curves."""
    curves = [(run, ev) for run in runs for ev in run.evaluations if ev.pr_curves is not None]
    tasks = [t for t in TASK_LABELS if any(t in ev.pr_curves.precision for _, ev in curves)]
    if not tasks:
        return None
    several = len({ev.dataset for _, ev in curves}) > 1

    def lines(task, iou):
        return [(_label(run, ev.dataset, several), ev.pr_curves.recall, precision) for run, ev in curves
                if (precision := ev.pr_curves.curve(task, iou)) is not None]

    return _pr_grid([(TASK_LABELS[task], functools.partial(lines, task)) for task in tasks])


def class_pr_curves(runs):
    """Per-class precision-recall at IoU 0.5 and 0.75 for the evaluations with several classes: one row per
    evaluation and task, one column per IoU, one line per class; ``None`` when no such evaluation."""
    several = len({ev.dataset for run in runs for ev in run.evaluations}) > 1

    def lines(curves, task, iou):
        return [(name, curves.recall, precision) for name, precision in curves.class_curves(task, iou)]

    panels = [(f"{_label(run, ev.dataset, several)}, {TASK_LABELS[task]}", functools.partial(lines, ev.pr_curves, task))
              for run in runs for ev in run.evaluations if ev.pr_curves is not None
              for task in TASK_LABELS if len(ev.pr_curves.class_curves(task, PR_IOUS[0])) > 1]
    return _pr_grid(panels) if panels else None


def _pr_grid(rows):
    """Precision-recall panels: one row per ``(title, lines)``, one column per IoU of PR_IOUS; ``lines(iou)``
    gives the ``(label, recall, precision)`` curves to draw, each labelled with its AP at that IoU."""
    fig, axes = _grid(len(rows), len(PR_IOUS))
    for row, (title, lines) in zip(axes, rows):
        for ax, iou in zip(row, PR_IOUS):
            for label, recall, precision in lines(iou):
                ax.plot(recall, precision, label=f"{label}: AP {100 * precision.mean():.1f}")
            ax.set_title(f"{title}, IoU {iou:g}", fontsize=10)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1.02)
            ax.legend(fontsize=7)
        row[0].set_ylabel("precision")
    for ax in axes[-1]:
        ax.set_xlabel("recall")
    fig.tight_layout()
    return fig


def confusion_matrices(matrices):
    """One heatmap per ``(title, ConfusionMatrix)`` (rows normalized), up to 3 per row; ``None`` without any."""
    if not matrices:
        return None
    cols = min(3, len(matrices))
    size = 2.5 + 0.7 * max(len(m.labels) for _, m in matrices)
    fig, axes = _pyplot().subplots((len(matrices) + cols - 1) // cols, cols, figsize=(size * cols, size),
                                   squeeze=False)
    for ax, (title, matrix) in zip(axes.flat, matrices):
        plot_confusion_matrix(matrix, ax, f"{title}\nscore >= {matrix.score_thresh:g}, IoU >= {matrix.iou_thresh:g}")
    for ax in axes.flat[len(matrices):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
