"""The allowed range of numeric config keys, checked when a config is loaded (:func:`check_ranges`).

A value outside its range would otherwise crash deep inside a run (``STYLE.GATYS.STEPS 0``), try to allocate
gigabytes (``MASKS.DILATE 100000``) or silently give a wrong result (``STYLE.STRENGTH 2``, a negative style
weight); here it is one line naming the key, the value and the range.
"""
from dataclasses import dataclass
from typing import Optional

from localstyle.utils.errors import LocalstyleError


@dataclass(frozen=True)
class Range:
    """``key`` must lie in ``[low, high]`` (None: unbounded on that side)."""

    key: str
    low: Optional[float] = None
    high: Optional[float] = None

    def holds(self, value):
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def __str__(self):
        if self.high is None:
            return f">= {self.low}"
        if self.low is None:
            return f"<= {self.high}"
        return f"in [{self.low}, {self.high}]"


MAX_MASK_PIXELS = 256  # MASKS.DILATE / FEATHER / CROP_MARGIN / SEMANTIC_BAND: larger kernels take minutes per image

RANGES = (
    Range("SOLVER.IMS_PER_BATCH", 1),
    Range("SOLVER.MAX_ITER", 0),
    Range("SOLVER.BASE_LR", 0),
    Range("SOLVER.CHECKPOINT_PERIOD", 0),
    Range("DATALOADER.NUM_WORKERS", 0),
    Range("INPUT.MIN_SIZE_TEST", 0),
    Range("INPUT.MAX_SIZE_TEST", 0),
    Range("MODEL.ROI_HEADS.NUM_CLASSES", 1),
    Range("MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0, 1),
    Range("MODEL.ROI_HEADS.NMS_THRESH_TEST", 0, 1),
    Range("TEST.EVAL_PERIOD", 0),
    Range("TEST.DETECTIONS_PER_IMAGE", 1),
    Range("STYLE.STRENGTH", 0, 1),
    Range("STYLE.SIZE", 16),
    Range("STYLE.GATYS.STEPS", 1),
    Range("STYLE.GATYS.CONTENT_WEIGHT", 0),
    Range("STYLE.GATYS.STYLE_WEIGHT", 0),
    Range("STYLE.GATYS.TV_WEIGHT", 0),
    Range("STYLE.ARBITRARY.INTERPOLATION", 0, 1),
    Range("MASKS.SCORE_THRESH", 0, 1),
    Range("MASKS.TOP_K", 0),
    Range("MASKS.DILATE", -MAX_MASK_PIXELS, MAX_MASK_PIXELS),
    Range("MASKS.FEATHER", 0, MAX_MASK_PIXELS),
    Range("MASKS.CROP_MARGIN", 0, MAX_MASK_PIXELS),
    Range("MASKS.SEMANTIC_BAND", 0, MAX_MASK_PIXELS),
    Range("STYLIZE.BATCH_SIZE", 1),
    Range("STYLIZE.NUM_WORKERS", 0),
    Range("STYLIZE.MAX_SIZE", 0),
    Range("VIDEO.CHUNK_SIZE", 1),
    Range("VIDEO.MAX_FRAMES", 0),
    Range("VIDEO.FLOW_SCALE", 0.05, 1),
    Range("VIDEO.ALPHA_MOMENTUM", 0, 1),
    Range("VIDEO.FLICKER_STRENGTH", 0, 1),
    Range("VIDEO.TRACK_OVERLAP", 0, 1),
    Range("VIDEO.TRACK_DECAY", 0, 1),
)


def check_ranges(cfg, source="config"):
    """One-line :class:`LocalstyleError` naming the first key of :data:`RANGES` whose value is out of range."""
    for r in RANGES:
        node = cfg
        for part in r.key.split("."):
            node = node[part]
        if not r.holds(node):
            raise LocalstyleError(f"{source}: {r.key} is {node!r}; it must be {r}")
