"""Training-time writers: ``metrics.json`` lines, TensorBoard events, console progress with ETA, loss-curve PNG."""
import datetime
import json
import logging
import os
import statistics
from collections import defaultdict, deque

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, cannot_write

logger = logging.getLogger(__name__)

SMOOTHED = ("time", "data_time")  # besides losses, reported as window medians like detectron2


class MetricsWriter:
    """Every ``period`` iterations (and at the last one) write the window-median losses/times and the latest
    other scalars to ``metrics.json`` (one JSON object per line), TensorBoard and the console (with ETA).
    Only instantiate it on the main process."""

    def __init__(self, output_dir, max_iter, start_iter=0, period=20, window=20):
        os.makedirs(output_dir, exist_ok=True)
        self.output_dir = output_dir
        self.json_file = os.path.join(output_dir, "metrics.json")
        self.max_iter = max_iter
        self.period = period
        self._history = defaultdict(lambda: deque(maxlen=window))
        self._tb = None
        self._written = start_iter - 1
        _truncate_metrics(self.json_file, start_iter)

    def put(self, iteration, **scalars):
        for k, v in scalars.items():
            self._history[k].append(float(v))
        if (iteration + 1) % self.period == 0 or iteration + 1 >= self.max_iter:
            self.write(iteration)

    def latest(self):
        """The most recent value of every scalar."""
        return {k: h[-1] for k, h in self._history.items() if h}

    def flush(self, iteration):
        """Write the scalars of ``iteration`` (the last finished one) unless they are already written."""
        if self._history and iteration > self._written:
            self.write(iteration)

    def _smoothed(self):
        return {k: statistics.median(h) if k.startswith("loss") or k == "total_loss" or k in SMOOTHED else h[-1]
                for k, h in self._history.items()}

    def write(self, iteration):
        self._written = iteration
        values = self._smoothed()
        self.write_scalars(iteration, values)
        eta = datetime.timedelta(seconds=int(values.get("time", 0.0) * (self.max_iter - iteration - 1)))
        losses = "  ".join(f"{k}: {v:.4g}" for k, v in values.items() if k.startswith("loss") or k == "total_loss")
        logger.info(f" eta: {eta}  iter: {iteration}  {losses}  time: {values.get('time', 0):.4f}  "
                    f"data_time: {values.get('data_time', 0):.4f}  lr: {values.get('lr', 0):.6g}")

    def write_scalars(self, iteration, values):
        """Append ``{"iteration": iteration, **values}`` to metrics.json and log them to TensorBoard."""
        try:
            with open(self.json_file, "a", encoding="utf-8") as f:
                f.write(json.dumps({"iteration": iteration, **values}, sort_keys=True) + "\n")
        except OSError as e:
            raise cannot_write(self.json_file, e) from None
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(self.output_dir)
        for k, v in values.items():
            self._tb.add_scalar(k, v, iteration)

    def close(self):
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _truncate_metrics(json_file, start_iter):
    """On resume, drop lines of iterations >= ``start_iter`` left by the interrupted run (and a torn last line)."""
    if not os.path.isfile(json_file):
        return
    rows, torn = _parse_metrics(json_file)
    kept = [row for row in rows if row.get("iteration", -1) < start_iter]
    if len(kept) != len(rows) or torn:
        with atomic_open(json_file, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row, sort_keys=True) + "\n" for row in kept)


def read_metrics(json_file):
    """The list of JSON objects in a metrics.json file; a torn last line (the run was killed or the disk filled
    while it was appended) is left out with a warning, any other line that is not JSON is a one-line error."""
    return _parse_metrics(json_file)[0]


def _parse_metrics(json_file):
    """``(rows, torn)``: the objects of ``json_file`` and whether its unreadable last line was dropped."""
    with open(json_file, encoding="utf-8", errors="replace") as f:
        lines = [(n, line) for n, line in enumerate(f, 1) if line.strip()]
    rows = []
    for k, (n, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError as e:
            if k == len(lines) - 1:
                logger.warning(f"{json_file}: line {n} is cut short (an interrupted write); left out")
                return rows, True
            raise LocalstyleError(f"{json_file}: line {n} is not a JSON object ({e})") from None
        if not isinstance(row, dict):
            raise LocalstyleError(f"{json_file}: line {n} is not a JSON object")
        rows.append(row)
    return rows, False


def plot_training_curves(output_dir):
    """Write ``output_dir/training_curve.png``: every loss and total_loss against iteration (and the validation
    total loss of TEST.VAL_LOSS), and the LR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    all_rows = read_metrics(os.path.join(output_dir, "metrics.json"))
    rows = [r for r in all_rows if "total_loss" in r]
    if not rows:
        return None
    keys = sorted({k for r in rows for k in r if k.startswith("loss")}) + ["total_loss"]
    fig, (ax, ax_lr) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for k in keys:
        pts = [(r["iteration"], r[k]) for r in rows if k in r]
        ax.plot(*zip(*pts), label=k, linewidth=2.5 if k == "total_loss" else 1.2)
    val = [(r["iteration"], r["val_total_loss"]) for r in all_rows if "val_total_loss" in r]
    if val:
        ax.plot(*zip(*val), "ko--", label="val_total_loss (DATASETS.TEST)")
    ax.set_ylabel("loss (20-iteration median)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(os.path.basename(os.path.abspath(output_dir)))
    ax_lr.plot([r["iteration"] for r in rows], [r.get("lr", float("nan")) for r in rows], color="tab:gray")
    ax_lr.set_xlabel("iteration")
    ax_lr.set_ylabel("lr")
    ax_lr.grid(True, alpha=0.3)
    fig.tight_layout()
    path = os.path.join(output_dir, "training_curve.png")
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return path
