"""The model behind a stylize run's mask source: a trained model's own config merged into a stylize config.

A stylize config says how to style; the model's architecture comes from the config it was trained with:
``--model-config FILE``, else the ``config.yaml`` that ``train_net.py`` wrote next to MODEL.WEIGHTS.
"""
import os

from localstyle.config.config import get_cfg, load_config
from localstyle.utils.errors import LocalstyleError

MODEL_SOURCES = ("predictor", "semantic", "predictor+semantic")
# MODEL keys that say how this run uses the model (kept from the stylize config), not what the model is
RUN_KEYS = ("WEIGHTS", "WEIGHTS_TRUSTED", "DEVICE", "RUNTIME", "PRECISION", "EXPORTED")


def find_model_config(cfg, explicit=None):
    """The model config for ``cfg``'s mask source: ``explicit``, else ``config.yaml`` next to MODEL.WEIGHTS when the
    weights are a local file, else None (the stylize config itself must then describe the model)."""
    if explicit:
        if not os.path.isfile(explicit):
            raise LocalstyleError(f"--model-config {explicit}: file not found")
        return explicit
    weights = os.path.expanduser(cfg.MODEL.WEIGHTS)
    if cfg.MASKS.SOURCE in MODEL_SOURCES and weights and os.path.isfile(weights):
        beside = os.path.join(os.path.dirname(weights), "config.yaml")
        if os.path.isfile(beside):
            return beside
    return None


def describes_model(cfg):
    """Whether ``cfg`` names a model architecture rather than leaving detectron2's defaults (a C4 model)."""
    default = get_cfg().MODEL
    return (cfg.MODEL.META_ARCHITECTURE, cfg.MODEL.BACKBONE.NAME) != (default.META_ARCHITECTURE,
                                                                         default.BACKBONE.NAME)


def merge_model_config(cfg, model_config, opts=()):
    """``cfg`` with MODEL (but its :data:`RUN_KEYS`), INPUT and the class names of ``model_config``; the model's
    registered datasets are added to DATASETS.REGISTER_COCO; ``opts`` (the command line) are applied last."""
    model = load_config(model_config)
    merged = cfg.clone()
    merged.MODEL = model.MODEL.clone()
    for key in RUN_KEYS:
        merged.MODEL[key] = cfg.MODEL[key]
    merged.INPUT = model.INPUT.clone()
    merged.DATASETS.CLASSES = list(cfg.DATASETS.CLASSES or model.DATASETS.CLASSES)
    if not cfg.DATASETS.CLASSES:
        merged.DATASETS.TEST = model.DATASETS.TEST
    names = {entry[0] for entry in cfg.DATASETS.REGISTER_COCO}
    merged.DATASETS.REGISTER_COCO = list(cfg.DATASETS.REGISTER_COCO) + [
        e for e in model.DATASETS.REGISTER_COCO if e[0] not in names]
    merged.merge_from_list(list(opts))
    return merged


def stylize_config(config_file, opts, model_config=None):
    """Load a stylize config with its model: see :func:`find_model_config` and :func:`merge_model_config`."""
    cfg = load_config(config_file, opts)
    path = find_model_config(cfg, model_config)
    if path:
        return merge_model_config(cfg, path, opts)
    if cfg.MASKS.SOURCE in MODEL_SOURCES and not describes_model(cfg):
        raise LocalstyleError(f"MASKS.SOURCE {cfg.MASKS.SOURCE}: {config_file} does not describe the model and no "
                              f"config.yaml is next to MODEL.WEIGHTS {cfg.MODEL.WEIGHTS or '(empty)'}: pass "
                              "--model-config with the config the model was trained with")
    return cfg
