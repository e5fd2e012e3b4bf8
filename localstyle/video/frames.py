"""One chunk of frames through the localized pipeline: masks -> tracks -> steady alphas -> crops -> one
batched ``stylize`` call per style -> flicker reduction -> composite (pixels with alpha 0 stay exact).

Crops, batched stylization and blending are the photo pipeline's (:mod:`localstyle.stylize.plan`,
:mod:`localstyle.compose`); what is added is the tracking and the temporal state between frames.
"""
import dataclasses
import time

import cv2
import numpy as np

from localstyle.compose import blend, build_alpha, invert, preserve_color, quantize_alpha, select_instances, \
    union_alpha
from localstyle.stylize.inputs import ImageRecord
from localstyle.stylize.plan import plan_regions, stylize_plans
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import resize_image
from localstyle.video.flow import FlowEstimator
from localstyle.video.stabilizer import TemporalStabilizer
from localstyle.video.tracker import InstanceTracker


@dataclasses.dataclass
class FramePlan:
    """What a frame needs after stylization, and what goes into the manifest."""

    image: np.ndarray
    flow: object
    alphas: dict  # style path -> full-frame alpha
    regions: list  # localstyle.stylize.plan.Region s to stylize
    record: dict


def track_alphas(cfg, tracks, style_of, shape):
    """``{style: alpha}`` for the tracks (a kept-alive track counts with its weight), as MASKS.* and STYLE.STRENGTH say.

    ``style_of(track)`` names a track's style (with MASKS.INVERT, ``style_of(None)`` is the background's).
    """
    alphas = {style_of(None): np.zeros(shape, np.float32)} if cfg.MASKS.INVERT else {}
    for t in tracks:
        style = style_of(t)
        alpha = t.weight * build_alpha(t.mask[None], cfg.MASKS.DILATE, cfg.MASKS.FEATHER)
        alphas[style] = np.maximum(alphas[style], alpha) if style in alphas else alpha
    return {style: quantize_alpha((invert(a) if cfg.MASKS.INVERT else a) * cfg.STYLE.STRENGTH)
            for style, a in alphas.items()}


def stylized_layer(image, regions, stylized, keep_color=False):
    """The part of ``image`` covered by ``regions`` with their ``stylized`` crops pasted in, and its box (XYXY)."""
    boxes = np.array([r.box for r in regions])
    (x0, y0), (x1, y1) = boxes[:, :2].min(0), boxes[:, 2:].max(0)
    layer = image[y0:y1, x0:x1].copy()
    for region, out in zip(regions, stylized):
        bx0, by0, bx1, by1 = region.box
        styl = resize_image(out, by1 - by0, bx1 - bx0, interpolation=cv2.INTER_LINEAR)
        if keep_color:
            styl = preserve_color(styl, image[by0:by1, bx0:bx1])
        layer[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] = styl
    return layer, (int(x0), int(y0), int(x1), int(y1))


class ChunkStylizer:
    """Stylizes consecutive chunks of a clip, carrying tracks, flow and temporal state between them."""

    def __init__(self, cfg, masks, method, styles, class_ids, thing_classes):
        self.cfg, self.masks, self.method, self.styles = cfg, masks, method, styles
        self.class_ids, self.thing_classes = class_ids, thing_classes
        v = cfg.VIDEO
        self.stabilize = bool(v.STABILIZE)
        self.tracker = InstanceTracker(v.TRACK_OVERLAP, v.TRACK_KEEP_FRAMES if self.stabilize else 0, v.TRACK_DECAY)
        self.stabilizer = TemporalStabilizer(v.ALPHA_MOMENTUM, v.FLICKER_STRENGTH)
        self.flow = FlowEstimator(v.FLOW_SCALE) if self.stabilize else None
        self.prev_image = None

    def plan(self, frames):
        """``frames``: list of (index, label, rgb, decode_s) -> (their :class:`FramePlan` s, the planning state after
        them for :meth:`state`). Planning the next chunk may overlap the stylization of this one."""
        t0 = time.perf_counter()
        dets = self.masks([ImageRecord(label, rgb, None, d) for _, label, rgb, d in frames])
        masks_s = (time.perf_counter() - t0) / max(len(frames), 1)
        plans = []
        for (index, label, rgb, decode_s), det in zip(frames, dets):
            if isinstance(det, Exception):
                raise LocalstyleError(f"frame {index} ({label}): {det}")
            plans.append(self._plan(index, rgb, det))
            plans[-1].record["timings"].update(decode_s=decode_s, masks_s=masks_s)
        track_meta, track_masks = self.tracker.state()
        return plans, (track_meta, track_masks, dict(self.stabilizer.alphas), self.prev_image)

    def stylize(self, plans):
        """The stylized regions of ``plans`` (one batched ``stylize`` call per style; thread-safe against
        :meth:`plan` and :meth:`finish`)."""
        stylized, seconds = stylize_plans(self.method, self.styles, plans)
        for plan, s in zip(plans, seconds):
            plan.record["timings"]["stylize_s"] = s
        return stylized

    def finish(self, plans, stylized):
        """Flicker reduction and composite, in frame order -> list of (composite, alpha used, record)."""
        return [self._finish(p, out) for p, out in zip(plans, stylized)]

    def _style_of(self, track):
        if self.cfg.MASKS.INVERT:
            return self.styles.default
        return self.styles.style_for(track.id, self.thing_classes[track.cls])

    def _plan(self, index, image, det):
        t0 = time.perf_counter()
        cfg = self.cfg
        flow = self.flow.pair(self.prev_image, image) if self.flow is not None and self.prev_image is not None \
            else None
        self.prev_image = image
        flow_s = time.perf_counter() - t0
        keep = select_instances(det, self.class_ids, cfg.MASKS.SCORE_THRESH, 0)
        tracks = self.tracker.update(det.classes[keep], det.scores[keep], det.masks[keep], flow)
        if cfg.MASKS.TOP_K:  # the largest on average, so the choice does not flip with every frame's noise
            chosen = {t.id for t in sorted(tracks, key=lambda t: -t.area)[:cfg.MASKS.TOP_K]}
            tracks = [t for t in tracks if t.id in chosen]
        alphas, regions = track_alphas(cfg, tracks, self._style_of, image.shape[:2]), []
        for style, alpha in alphas.items():
            if self.stabilize:
                alphas[style] = alpha = self.stabilizer.smooth_alpha(style, alpha, flow)
            regions += plan_regions(image, alpha, style, cfg.STYLE.SIZE, cfg.MASKS.CROP_MARGIN)
        self.stabilizer.keep_alphas(alphas)
        record = {"index": index, "instances": sum(t.missed == 0 for t in tracks),
                  "kept_alive": sum(t.missed > 0 for t in tracks), "tracks": [t.id for t in tracks],
                  "timings": {"flow_s": flow_s, "plan_s": time.perf_counter() - t0 - flow_s}}
        return FramePlan(image, flow, alphas, regions, record)

    def _finish(self, plan, stylized):
        t0 = time.perf_counter()
        image, outcome = plan.image, plan.image.copy()
        for style, alpha in plan.alphas.items():
            mine = [(r, out) for r, out in zip(plan.regions, stylized) if r.style == style]
            if not mine:
                continue
            layer, box = stylized_layer(image, *zip(*mine), self.cfg.STYLE.PRESERVE_COLOR)
            if self.stabilize:
                layer = self.stabilizer.steady_layer(style, layer, alpha, plan.flow, box)
            x0, y0, x1, y1 = box
            outcome[y0:y1, x0:x1] = blend(outcome[y0:y1, x0:x1], layer, alpha[y0:y1, x0:x1])
        self.stabilizer.keep_layers(plan.alphas)
        timings = plan.record["timings"]
        timings["compose_s"] = time.perf_counter() - t0
        timings["total_s"] = sum(timings.values())
        plan.record["timings"] = {k: round(v, 4) for k, v in timings.items()}
        return outcome, union_alpha(plan.alphas.values(), image.shape[:2]), plan.record

    def state(self, planned):
        """(JSON-able meta, dict of arrays) to resume after the chunk whose :meth:`plan` returned ``planned`` and
        whose frames are all finished."""
        track_meta, track_masks, alphas, prev_image = planned
        keys, arrays = self.stabilizer.state(alphas)
        arrays = {f"stab_{k}": v for k, v in arrays.items()}
        for i, m in enumerate(track_masks):
            arrays[f"track_{i}"] = m
        if prev_image is not None:
            arrays["prev_image"] = prev_image
        return {"tracker": track_meta, "style_keys": keys}, arrays

    def load_state(self, meta, arrays):
        n = len(meta["tracker"]["tracks"])
        self.tracker.load_state(meta["tracker"], [arrays[f"track_{i}"] for i in range(n)])
        self.stabilizer.load_state(meta["style_keys"],
                                   {k[len("stab_"):]: v for k, v in arrays.items() if k.startswith("stab_")})
        self.prev_image = arrays.get("prev_image")
