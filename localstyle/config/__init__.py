"""detectron2-format configs: ``get_cfg()`` defaults, ``_BASE_`` files, ``KEY VALUE`` overrides."""
from localstyle.config.config import CfgNode, ConfigError, get_cfg, load_config

__all__ = ["CfgNode", "ConfigError", "get_cfg", "load_config"]
