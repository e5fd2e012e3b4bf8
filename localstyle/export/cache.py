"""Exported predictors made on the fly (``MODEL.EXPORTED`` empty), cached by weights hash + config."""
import copy
import hashlib
import json
import logging
import os

from localstyle.utils.digests import file_sha256
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_write_json, cache_dir

logger = logging.getLogger(__name__)


def export_key(cfg, fmt, model=None):
    """Cache key: sha256 of the weights (the MODEL.WEIGHTS file, else ``model``'s tensors), the config and format."""
    from localstyle.export.exporter import model_digest

    if model is not None:
        weights = model_digest(model, cfg)
    elif os.path.isfile(cfg.MODEL.WEIGHTS):
        weights = file_sha256(cfg.MODEL.WEIGHTS)
    else:
        return None
    return hashlib.sha256(f"{weights}\n{fmt}\n{cfg.dump()}".encode()).hexdigest()[:24]


def cached_export(cfg, fmt, model=None):
    """Path of ``cfg``'s predictor exported as ``fmt``, exporting it into the cache first if needed.

    ``model``: an eval model to export instead of building one from MODEL.WEIGHTS (it is copied, not changed).
    Returns ``(path, load_report)``: the weight-loading report of the export (kept next to it in the cache), None
    for a ``model`` given here.
    """
    from localstyle.export.exporter import EXPORT_FILES, build_inference_model, export_predictor

    report = None
    if model is not None:
        model = copy.deepcopy(model).cpu().eval()
    key = export_key(cfg, fmt, model)
    if key is None:  # weights from a URL, a torchvision name or random init: hash the loaded tensors
        model, report = build_inference_model(cfg)
        key = export_key(cfg, fmt, model)
    folder = os.path.join(cache_dir(), "exported", key)
    path = os.path.join(folder, EXPORT_FILES[fmt])
    report_file = os.path.join(folder, "load_report.json")
    if os.path.isfile(path):
        if report is None and os.path.isfile(report_file):
            with open(report_file) as f:
                report = json.load(f)
        return path, report
    if model is None:
        model, report = build_inference_model(cfg)
    logger.info(f"Exporting the predictor as {fmt} into {folder} (once per weights and config)")
    try:
        export_predictor(model, cfg, fmt, folder)
        if report is not None:
            atomic_write_json(report_file, report)
    except OSError as e:
        raise LocalstyleError(f"{folder}: cannot write the exported predictor ({e})") from e
    return path, report
