"""Exported predictors made on the fly (``MODEL.EXPORTED`` empty), cached under ``$LOCALSTYLE_CACHE/exported/<key>``.

The key (:func:`export_key`, its only home) hashes what changes the exported model's outputs: the weights, the
MODEL.* and INPUT.* keys (less the ones a runtime applies at run time or that name files), the format and the
file's precision; STYLE.*, MASKS.* and the like do not re-export. The cache keeps at most
``$LOCALSTYLE_EXPORT_CACHE_MB`` (default 2048) MB, dropping the least recently used entries.
"""
import copy
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass

import torch

from localstyle.config.keys import pop_keys
from localstyle.export.exporter import EXPORT_FILES, ONNX_OPSET, build_inference_model, export_predictor
from localstyle.export.int8 import calibration_files
from localstyle.utils.digests import file_sha256
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_write_json, cache_dir

logger = logging.getLogger(__name__)

# keys left out of the key: given at run time, naming files, choosing where it runs, or hashed apart (the weights'
# digest, the precision, an int8 model's calibration images)
RUN_TIME_KEYS = ("MODEL.RUNTIME", "MODEL.EXPORTED", "MODEL.DEVICE", "MODEL.WEIGHTS", "MODEL.PRECISION",
                 "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.INT8")
DEFAULT_CAP_MB = 2048


def tensors_sha256(model):
    """sha256 (hex) of a model's named tensors."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def export_key(cfg, fmt, precision, weights_sha256, extra=""):
    """The cache key of ``cfg``'s predictor exported as ``fmt`` at file ``precision`` from weights with that digest;
    ``extra``: anything else the file depends on (e.g. the calibration images of an int8 model)."""
    kept = {k: v for k, v in cfg.items() if k in ("MODEL", "INPUT")}
    kept = json.loads(json.dumps(kept, default=list))  # CfgNode -> plain dicts
    pop_keys(kept, RUN_TIME_KEYS)
    text = json.dumps([weights_sha256, fmt, precision, kept, torch.__version__, ONNX_OPSET, extra], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class CacheEntry:
    """One exported predictor in the cache: its folder, bytes on disk and last use (seconds since the epoch)."""

    folder: str
    size: int
    last_used: float

    @property
    def files(self):
        return sorted(os.listdir(self.folder))


def cache_root():
    return os.path.join(cache_dir(), "exported")


def cache_entries():
    """The cache's entries, least recently used first."""
    root, entries = cache_root(), []
    for name in os.listdir(root) if os.path.isdir(root) else []:
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
            entries.append(CacheEntry(folder, size, os.path.getmtime(folder)))
    return sorted(entries, key=lambda e: e.last_used)


def cache_cap_bytes():
    """``$LOCALSTYLE_EXPORT_CACHE_MB`` (default 2048) in bytes."""
    value = os.environ.get("LOCALSTYLE_EXPORT_CACHE_MB", str(DEFAULT_CAP_MB))
    try:
        return int(float(value) * 2**20)
    except ValueError:
        raise LocalstyleError(f"LOCALSTYLE_EXPORT_CACHE_MB {value!r}: not a number of megabytes") from None


def trim_cache(keep=None):
    """Drop the least recently used entries (never ``keep``) until the cache fits its cap; returns those dropped."""
    entries, cap, dropped = cache_entries(), cache_cap_bytes(), []
    total = sum(e.size for e in entries)
    for e in entries:
        if total <= cap:
            break
        if e.folder != keep:
            shutil.rmtree(e.folder, ignore_errors=True)
            total -= e.size
            dropped.append(e)
    if dropped:
        logger.info("Export cache over LOCALSTYLE_EXPORT_CACHE_MB: dropped %d least recently used entries",
                    len(dropped))
    return dropped


def calibration_digest(cfg):
    """What an int8 model's calibration depends on: its images (paths, sizes, modification times)."""
    files = calibration_files(cfg)
    return json.dumps([(p, os.path.getsize(p), os.path.getmtime(p)) for p in files])


def cached_export(cfg, fmt, model=None, precision="fp32"):
    """Path of ``cfg``'s predictor exported as ``fmt`` at file ``precision`` (fp32; int8 for openvino IR),
    exporting it into the cache first if needed.

    ``model``: an eval model to export instead of building one from MODEL.WEIGHTS (it is copied, not changed).
    Returns ``(path, load_report)``: the weight-loading report of the export (kept next to it in the cache), None
    for a ``model`` given here.
    """
    report = None
    if model is not None:
        model = copy.deepcopy(model).cpu().eval()
    elif not os.path.isfile(cfg.MODEL.WEIGHTS):  # a URL, a torchvision name or random init: hash the loaded tensors
        model, report = build_inference_model(cfg)
    weights = file_sha256(cfg.MODEL.WEIGHTS) if model is None else tensors_sha256(model)
    extra = calibration_digest(cfg) if precision == "int8" else ""
    folder = os.path.join(cache_root(), export_key(cfg, fmt, precision, weights, extra))
    path = os.path.join(folder, EXPORT_FILES[fmt])
    report_file = os.path.join(folder, "load_report.json")
    if os.path.isfile(path):
        os.utime(folder)  # last use, for trim_cache
        if report is None and os.path.isfile(report_file):
            with open(report_file) as f:
                report = json.load(f)
        return path, report
    if model is None:
        model, report = build_inference_model(cfg)
    logger.info(f"Exporting the predictor as {fmt} into {folder} (once per weights and model settings)")
    try:
        export_predictor(model, cfg, fmt, folder, precision)
        if report is not None:
            atomic_write_json(report_file, report)
    except OSError as e:
        raise LocalstyleError(f"{folder}: cannot write the exported predictor ({e})") from e
    trim_cache(keep=folder)
    return path, report
