"""Config loading: detectron2's YAML format (``_BASE_`` chains, ``KEY VALUE`` overrides) with clear errors."""
import ast
import functools
import logging
import os

import yaml
from fvcore.common.config import CfgNode as _FvCfgNode

from localstyle.utils.errors import LocalstyleError

BASE_KEY = "_BASE_"


class ConfigError(LocalstyleError):
    """A config file or override is invalid (unknown key, wrong type, missing base file)."""


def _coerce(value, original, full_key, source):
    """Return ``value`` converted to the type of ``original``, or raise :class:`ConfigError`."""
    if original is None or value is None or type(value) is type(original):
        return value
    if isinstance(original, (list, tuple)) and isinstance(value, (list, tuple)):
        inner = type(original[0]) if original and isinstance(original[0], (list, tuple)) else None
        if inner is not None:
            value = [inner(v) if isinstance(v, (list, tuple)) else v for v in value]
        return type(original)(value)
    if isinstance(original, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    raise ConfigError(
        f"{source}: config key {full_key} expects {type(original).__name__} "
        f"(default {original!r}), got {type(value).__name__} {value!r}"
    )


def _decode(value):
    """Decode a YAML/command-line string into a Python literal where it is one (``"(1, 2)"`` -> tuple)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return value


class CfgNode(_FvCfgNode):
    """A detectron2-compatible config node whose merge errors name the key and the file."""

    def merge_from_file(self, cfg_filename, allow_unsafe=False):
        """Merge a YAML file (and its ``_BASE_`` chain, bases first) into this config."""
        self._merge_file(os.fspath(cfg_filename), chain=())

    def _merge_file(self, path, chain):
        if not os.path.isfile(path):
            where = f" (base of {chain[-1]})" if chain else ""
            raise ConfigError(f"{path}: config file not found{where}")
        if os.path.abspath(path) in chain:
            raise ConfigError(f"{path}: _BASE_ cycle through {' -> '.join(chain)}")
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            context = getattr(e, "context", None)
            raise ConfigError(f"{where}: invalid YAML: {problem}" + (f" ({context})" if context else "")) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config file must be a YAML mapping of keys")
        bases = data.pop(BASE_KEY, [])
        for base in [bases] if isinstance(bases, str) else bases:
            base = os.path.expanduser(base)
            if not os.path.isabs(base):
                base = os.path.join(os.path.dirname(path), base)
            self._merge_file(base, chain + (os.path.abspath(path),))
        self._merge_dict(data, [], path)

    def _merge_dict(self, data, prefix, source):
        for key, value in data.items():
            full_key = ".".join(prefix + [key])
            if key not in self:
                raise ConfigError(f"{source}: unknown config key {full_key}")
            current = self[key]
            if isinstance(current, _FvCfgNode):
                if not isinstance(value, dict):
                    raise ConfigError(f"{source}: config key {full_key} is a section, got {value!r}")
                current._merge_dict(value, prefix + [key], source)
            else:
                if isinstance(value, dict):
                    raise ConfigError(f"{source}: config key {full_key} is not a section")
                self[key] = _coerce(_decode(value), current, full_key, source)

    def merge_from_list(self, cfg_list, source="command line"):
        """Merge ``[KEY, VALUE, KEY, VALUE, ...]`` overrides, as given after the CLI flags."""
        if len(cfg_list) % 2:
            raise ConfigError(f"{source}: overrides must be KEY VALUE pairs, got {list(cfg_list)}")
        for full_key, value in zip(cfg_list[0::2], cfg_list[1::2]):
            *parents, leaf = full_key.split(".")
            node = self
            for i, part in enumerate(parents):
                if part not in node or not isinstance(node[part], _FvCfgNode):
                    raise ConfigError(f"{source}: unknown config key {full_key}")
                node = node[part]
            if leaf not in node or isinstance(node[leaf], _FvCfgNode):
                raise ConfigError(f"{source}: unknown config key {full_key}")
            node[leaf] = _coerce(_decode(value), node[leaf], full_key, source)


def get_cfg():
    """Return a fresh copy of the default config (detectron2 keys plus localstyle's sections)."""
    from localstyle.config.defaults import _C

    return CfgNode(_C.clone())


def load_config(config_file=None, opts=()):
    """Defaults, then ``config_file`` (if any), then ``KEY VALUE`` ``opts``; returns an unfrozen config.
    Keys localstyle does not implement (``localstyle.config.unsupported``) are refused at non-default values."""
    from localstyle.config.ranges import check_ranges
    from localstyle.config.unsupported import check_unsupported

    cfg = get_cfg()
    if config_file:
        cfg.merge_from_file(config_file)
    cfg.merge_from_list(list(opts))
    sources = ([str(config_file)] if config_file else []) + (["command line"] if opts else [])
    check_unsupported(cfg, source=" + ".join(sources) or "config")
    derive_num_classes(cfg)
    check_ranges(cfg, source=" + ".join(sources) or "config")
    return cfg


def derive_num_classes(cfg):
    """A Mask R-CNN config that names its classes (DATASETS.CLASSES) but leaves MODEL.ROI_HEADS.NUM_CLASSES at its
    default gets one class per name (logged)."""
    default = get_cfg().MODEL.ROI_HEADS.NUM_CLASSES
    n = len(cfg.DATASETS.CLASSES)
    if n and cfg.MODEL.ROI_HEADS.NUM_CLASSES == default != n and cfg.MODEL.META_ARCHITECTURE == "GeneralizedRCNN":
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = n
        _log_once(f"MODEL.ROI_HEADS.NUM_CLASSES {n}: one class per name of DATASETS.CLASSES "
                  f"{list(cfg.DATASETS.CLASSES)} (the config left it at its default {default})")


@functools.lru_cache(maxsize=None)
def _log_once(message):
    """Log ``message`` once per process (a config is loaded again in each launched process)."""
    logging.getLogger(__name__).warning(message)
