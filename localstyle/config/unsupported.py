"""detectron2 config keys that localstyle accepts (so detectron2's YAML files merge) but does not implement.

Each entry names a key or a whole section and the reason. :func:`check_unsupported` refuses a config where any
key under an entry differs from its default, with one line naming the key, the file and the reason; keys at their
defaults are harmless. ``tests/test_config_keys.py`` checks that every key of ``get_cfg()`` is either read by the
code or listed here.
"""
from dataclasses import dataclass

from localstyle.config.keys import lookup
from localstyle.utils.errors import LocalstyleError


@dataclass(frozen=True)
class Unsupported:
    """``key`` (a leaf key or a section) is refused when set to a non-default value, because ``reason``."""

    key: str
    reason: str


UNSUPPORTED = (
    Unsupported("VERSION", "only VERSION 2 configs are read (detectron2's format since v0.1)"),
    Unsupported("MODEL.ANCHOR_GENERATOR.ANGLES", "rotated anchors are not implemented"),
    Unsupported("MODEL.ROI_BOX_HEAD.FED_LOSS_FREQ_WEIGHT_POWER", "the federated loss is not implemented"),
    Unsupported("MODEL.ROI_BOX_HEAD.FED_LOSS_NUM_CLASSES", "the federated loss is not implemented"),
    Unsupported("MODEL.ROI_BOX_CASCADE_HEAD", "Cascade R-CNN is not implemented"),
    Unsupported("MODEL.ROI_KEYPOINT_HEAD", "keypoint R-CNN is not implemented"),
    Unsupported("MODEL.SEM_SEG_HEAD.CONVS_DIM", "detectron2's SemSegFPNHead is not implemented (DeepLabV3Head's "
                                               "width is MODEL.SEM_SEG_HEAD.ASPP_CHANNELS)"),
    Unsupported("MODEL.SEM_SEG_HEAD.COMMON_STRIDE", "detectron2's SemSegFPNHead is not implemented"),
    Unsupported("MODEL.SEM_SEG_HEAD.NORM", "detectron2's SemSegFPNHead is not implemented (DeepLabV3Head uses "
                                          "BatchNorm, as torchvision's)"),
    Unsupported("MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT", "Panoptic FPN is not implemented"),
    Unsupported("MODEL.PANOPTIC_FPN.COMBINE.ENABLED", "Panoptic FPN is not implemented"),
    Unsupported("MODEL.PANOPTIC_FPN.COMBINE.OVERLAP_THRESH", "Panoptic FPN is not implemented"),
    Unsupported("MODEL.PANOPTIC_FPN.COMBINE.STUFF_AREA_LIMIT", "Panoptic FPN is not implemented"),
    Unsupported("MODEL.RETINANET", "RetinaNet is not implemented"),
    Unsupported("MODEL.RESNETS.DEFORM_MODULATED", "deformable convolutions are not implemented"),
    Unsupported("MODEL.RESNETS.DEFORM_NUM_GROUPS", "deformable convolutions are not implemented"),
    Unsupported("INPUT.CROP.TYPE", "random cropping (INPUT.CROP) is not implemented"),
    Unsupported("INPUT.CROP.SIZE", "random cropping (INPUT.CROP) is not implemented"),
    Unsupported("DATASETS.PROPOSAL_FILES_TRAIN", "precomputed proposals are not supported"),
    Unsupported("DATASETS.PROPOSAL_FILES_TEST", "precomputed proposals are not supported"),
    Unsupported("DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TRAIN", "precomputed proposals are not supported"),
    Unsupported("DATASETS.PRECOMPUTED_PROPOSAL_TOPK_TEST", "precomputed proposals are not supported"),
    Unsupported("DATALOADER.REPEAT_THRESHOLD", "RepeatFactorTrainingSampler is not implemented"),
    Unsupported("DATALOADER.REPEAT_SQRT", "RepeatFactorTrainingSampler is not implemented"),
    Unsupported("SOLVER.NUM_DECAYS", "WarmupStepWithFixedGammaLR is not implemented"),
    Unsupported("TEST.EXPECTED_RESULTS", "results are not verified against expectations (compare runs with "
                                         "tools/ap_report.py)"),
    Unsupported("TEST.KEYPOINT_OKS_SIGMAS", "keypoint evaluation is not implemented"),
    Unsupported("VIS_PERIOD", "training-time visualization is not implemented (use tools/visualize_data.py)"),
    Unsupported("GLOBAL.HACK", "detectron2's placeholder key, unused"),
)


def iter_leaves(node, prefix=""):
    """``(full_key, value)`` for every non-section key under a config node, in order."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from iter_leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def _plain(value):
    """Tuples as lists, so that a YAML list equals a tuple default."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_unsupported(cfg, source="config"):
    """Raise :class:`LocalstyleError` naming the first key under :data:`UNSUPPORTED` that differs from its default."""
    from localstyle.config.defaults import _C

    for entry in UNSUPPORTED:
        value, default = lookup(cfg, entry.key), lookup(_C, entry.key)
        pairs = iter_leaves(value, entry.key + ".") if isinstance(value, dict) else [(entry.key, value)]
        for key, v in pairs:
            d = lookup(_C, key) if isinstance(default, dict) else default
            if _plain(v) != _plain(d):
                raise LocalstyleError(f"{source}: config key {key} = {v!r} is not supported: {entry.reason} "
                                      f"(leave it at its default {d!r})")
