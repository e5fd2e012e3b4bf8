"""The allowed range of numeric config keys, checked when a config is loaded (:func:`check_ranges`).

A value outside its range would otherwise crash deep inside a run (``STYLE.GATYS.STEPS 0``), try to allocate
gigabytes (``MASKS.DILATE 100000``) or silently give a wrong result (``STYLE.STRENGTH 2``, a negative style
weight); here it is one line naming the key, the value and the range.
"""
from dataclasses import dataclass
from typing import Optional

from localstyle.config.keys import lookup
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

# (low, high) -> the keys that must lie in it
_TABLE = {
    (1, None): ("SOLVER.IMS_PER_BATCH", "MODEL.ROI_HEADS.NUM_CLASSES", "TEST.DETECTIONS_PER_IMAGE", "STYLE.GATYS.STEPS",
                "STYLIZE.BATCH_SIZE", "VIDEO.CHUNK_SIZE"),
    (0, None): ("SOLVER.MAX_ITER", "SOLVER.BASE_LR", "SOLVER.CHECKPOINT_PERIOD", "DATALOADER.NUM_WORKERS",
                "INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST", "TEST.EVAL_PERIOD", "STYLE.GATYS.CONTENT_WEIGHT",
                "STYLE.GATYS.STYLE_WEIGHT", "STYLE.GATYS.TV_WEIGHT", "MASKS.TOP_K", "STYLIZE.NUM_WORKERS",
                "STYLIZE.MAX_SIZE", "VIDEO.MAX_FRAMES", "STYLE.SIZE"),
    (0, 1): ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.ROI_HEADS.NMS_THRESH_TEST", "STYLE.STRENGTH",
             "STYLE.ARBITRARY.INTERPOLATION", "MASKS.SCORE_THRESH", "VIDEO.ALPHA_MOMENTUM", "VIDEO.FLICKER_STRENGTH",
             "VIDEO.TRACK_OVERLAP", "VIDEO.TRACK_DECAY"),
    (-MAX_MASK_PIXELS, MAX_MASK_PIXELS): ("MASKS.DILATE",),
    (0, MAX_MASK_PIXELS): ("MASKS.FEATHER", "MASKS.CROP_MARGIN", "MASKS.SEMANTIC_BAND"),
    (0.05, 1): ("VIDEO.FLOW_SCALE",),
}
RANGES = tuple(Range(key, low, high) for (low, high), keys in _TABLE.items() for key in keys)


def check_ranges(cfg, source="config"):
    """One-line :class:`LocalstyleError` naming the first key of :data:`RANGES` whose value is out of range."""
    for r in RANGES:
        node = lookup(cfg, r.key)
        if not r.holds(node):
            raise LocalstyleError(f"{source}: {r.key} is {node!r}; it must be {r}")
