"""Predictor runtimes (``MODEL.RUNTIME``): the eager model, or the exported predictor under onnxruntime, OpenVINO or
TorchScript.

Every runtime is called like ``GeneralizedRCNN`` in eval mode: ``runtime(batched_inputs)`` ->
``[{"instances": Instances}]``, with each input's ``image`` (3 x H x W, resized) and ``height``/``width``.
Add one with ``@RUNTIME_REGISTRY.register(name="mine")`` on a :class:`Runtime` subclass.
"""
import contextlib
import logging
import os

import torch

from localstyle.export.exporter import INPUT_NAMES
from localstyle.export.openvino_io import openvino_onnx, read_openvino
from localstyle.export.thresholds import Thresholds, warn_if_nms_differs
from localstyle.structures import Boxes, Instances
from localstyle.utils.cpu_features import warn_slow_precision
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.registry import Registry

logger = logging.getLogger(__name__)

RUNTIME_REGISTRY = Registry("RUNTIME")
RUNTIME_REGISTRY.__doc__ = "Predictor runtimes, picked by name with MODEL.RUNTIME."

# MODEL.PRECISION -> autocast dtype of the eager runtime (reduced precision is opt-in; openvino runs bf16 and int8)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
ALL_PRECISIONS = (*PRECISIONS, "int8")


class Runtime:
    """Base class: ``model`` is the eager model when the runtime holds one (else None); ``precisions``: the
    MODEL.PRECISION values it runs."""

    model = None
    load_report = None
    precisions = ("fp32",)

    def __call__(self, batched_inputs):
        raise NotImplementedError


@RUNTIME_REGISTRY.register(name="eager")
class EagerRuntime(Runtime):
    """The PyTorch model itself (channels-last on CPU), without autograd state, optionally under autocast
    (``MODEL.PRECISION``)."""

    precisions = tuple(PRECISIONS)

    def __init__(self, cfg, model):
        self.model = model
        self.dtype = PRECISIONS[cfg.MODEL.PRECISION]
        self.device_type = model.device.type
        if self.device_type == "cpu":  # oneDNN's convolutions run faster on channels-last tensors
            model.to(memory_format=torch.channels_last)

    def __call__(self, batched_inputs):
        """Images with the same padded size run as one batch (padding a smaller image to a larger one's size would
        change its outputs near the border); the outputs come back in input order."""
        d = max(1, getattr(getattr(self.model, "backbone", None), "size_divisibility", 1))
        groups = {}
        for i, x in enumerate(batched_inputs):
            groups.setdefault(tuple(-(-s // d) * d for s in x["image"].shape[-2:]), []).append(i)
        outputs = [None] * len(batched_inputs)
        autocast = torch.autocast(self.device_type, self.dtype) if self.dtype else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            for idx in groups.values():
                for i, out in zip(idx, self.model([batched_inputs[i] for i in idx])):
                    outputs[i] = out
        if self.dtype:
            for o in (o for o in outputs if "instances" in o):
                inst = o["instances"]
                inst.scores = inst.scores.float()
                inst.pred_boxes = Boxes(inst.pred_boxes.tensor.float())
        return outputs


class ExportedRuntime(Runtime):
    """Runs an exported ``TracingPredictor`` image by image: ``run(image, size, score_thresh, detections_per_image)``
    -> boxes, scores, classes, masks. Built as ``cls(path, precision, thresholds)`` (``precision``: one of
    ``precisions``; ``thresholds``: the run's :class:`Thresholds`, given to the graph with every image); subclasses
    open the model in ``load(path, precision)``."""

    def __init__(self, path, precision, thresholds):
        self.path, self.thresholds = path, thresholds
        self.load(path, precision)

    def load(self, path, precision):
        raise NotImplementedError

    def __call__(self, batched_inputs):
        outputs = []
        for x in batched_inputs:
            image = x["image"].to("cpu", torch.float32)
            h, w = int(x.get("height", image.shape[-2])), int(x.get("width", image.shape[-1]))
            boxes, scores, classes, masks = self.run(image, torch.tensor([h, w], dtype=torch.int64),
                                                     *self.thresholds.inputs())
            outputs.append({"instances": Instances((h, w), pred_boxes=Boxes(boxes), scores=scores,
                                                   pred_classes=classes, pred_masks=masks)})
        return outputs

    def run(self, *inputs):
        raise NotImplementedError


@RUNTIME_REGISTRY.register(name="onnxruntime")
class OnnxRuntime(ExportedRuntime):
    """``model.onnx`` under onnxruntime's CPU provider with as many threads as torch uses."""

    format = "onnx"

    def load(self, path, precision):
        from localstyle.style.onnx_batching import open_session

        self.session = open_session(path, threads=torch.get_num_threads())

    def run(self, *inputs):
        outs = self.session.run(None, {n: x.numpy() for n, x in zip(INPUT_NAMES, inputs)})
        return [torch.from_numpy(o) for o in outs]


@RUNTIME_REGISTRY.register(name="openvino")
class OpenVinoRuntime(ExportedRuntime):
    """``model.onnx`` (or an IR ``model.xml``) under OpenVINO's CPU plugin: as many threads as torch uses, latency
    mode, fp32 inference forced (the plugin would pick bf16 on CPUs with native bf16); ``precision`` bf16 is the
    opt-in reduced-precision path, int8 runs an NNCF-quantized IR (``tools/export_model.py --precision int8``)."""

    format = "onnx"
    precisions = ("fp32", "bf16", "int8")

    def load(self, path, precision):
        if precision == "int8" and not path.endswith(".xml"):
            raise LocalstyleError(f"MODEL.EXPORTED {path}: MODEL.PRECISION int8 runs the quantized model.xml of "
                                  f"tools/export_model.py --format openvino --precision int8 (or leave it empty)")
        core = openvino_onnx()[0]
        try:
            self.compiled = core.compile_model(read_openvino(path), "CPU", {
                "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
                "INFERENCE_NUM_THREADS": torch.get_num_threads(), "PERFORMANCE_HINT": "LATENCY"})
        except RuntimeError as e:
            raise LocalstyleError(f"{path}: OpenVINO cannot compile this model ({str(e).strip().splitlines()[0]})") \
                from e
        self.request = self.compiled.create_infer_request()

    def run(self, *inputs):
        outs = self.request.infer({n: x.numpy() for n, x in zip(INPUT_NAMES, inputs)})
        return [torch.from_numpy(outs[o]) for o in self.compiled.outputs]  # copies (share_outputs=False)


@RUNTIME_REGISTRY.register(name="torchscript")
class TorchScriptRuntime(ExportedRuntime):
    """``model.ts`` (a traced ``TracingPredictor``) loaded with ``torch.jit.load``."""

    format = "torchscript"

    def load(self, path, precision):
        try:
            self.module = torch.jit.load(path, map_location="cpu").eval()
        except RuntimeError as e:
            raise LocalstyleError(f"{path}: not a loadable TorchScript predictor ({str(e).splitlines()[0]})") from e

    def run(self, *inputs):
        # no profiling executor: it would re-specialize the graph for every new image size
        with torch.inference_mode(), torch.jit.optimized_execution(False):
            return self.module(*inputs)


def runtime_class(name):
    """The Runtime subclass registered as ``name`` (MODEL.RUNTIME)."""
    if name not in RUNTIME_REGISTRY:
        raise LocalstyleError(f"MODEL.RUNTIME: unknown runtime {name!r}; registered: {RUNTIME_REGISTRY.names()}")
    return RUNTIME_REGISTRY.get(name)


def build_runtime(cfg, model=None):
    """The ``cfg.MODEL.RUNTIME`` runtime for ``cfg`` (weights from MODEL.WEIGHTS, or MODEL.EXPORTED for exported
    runtimes; empty: exported on the fly into the cache). ``model``: an already built eval model to use."""
    from localstyle.export.cache import cached_export
    from localstyle.export.exporter import build_inference_model

    cls = runtime_class(cfg.MODEL.RUNTIME)
    if cfg.MODEL.PRECISION not in ALL_PRECISIONS:
        raise LocalstyleError(f"MODEL.PRECISION {cfg.MODEL.PRECISION!r}: use one of {sorted(ALL_PRECISIONS)}")
    if cfg.MODEL.PRECISION == "bf16" and (cls is not EagerRuntime or resolve_device(cfg) == "cpu"):
        warn_slow_precision("bf16")
    if cls is not EagerRuntime and resolve_device(cfg) != "cpu":
        logger.warning("MODEL.RUNTIME %s runs on the CPU; on %s the eager model runs", cfg.MODEL.RUNTIME,
                       cfg.MODEL.DEVICE)
        cls = EagerRuntime
    if cls is not EagerRuntime and (cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN" or not cfg.MODEL.MASK_ON):
        logger.info("MODEL.RUNTIME %s exports Mask R-CNN only; %s (MASK_ON %s) runs eager", cfg.MODEL.RUNTIME,
                    cfg.MODEL.META_ARCHITECTURE, cfg.MODEL.MASK_ON)
        cls = EagerRuntime
    if cfg.MODEL.PRECISION not in cls.precisions:
        name = "eager" if cls is EagerRuntime else cfg.MODEL.RUNTIME
        raise LocalstyleError(f"MODEL.PRECISION {cfg.MODEL.PRECISION}: MODEL.RUNTIME {name} runs "
                              f"{'/'.join(cls.precisions)}; bf16 runs with MODEL.RUNTIME eager or openvino, int8 "
                              f"with openvino (on the CPU)")
    if cls is EagerRuntime:
        report = None
        if model is None:
            model, report = build_inference_model(cfg)
        runtime = EagerRuntime(cfg, model)
        runtime.load_report = report
        return runtime
    path, report = cfg.MODEL.EXPORTED, None
    if path and not os.path.isfile(path):
        raise LocalstyleError(f"MODEL.EXPORTED {path}: no such file")
    if path:
        warn_if_nms_differs(path, cfg)
    elif cfg.MODEL.PRECISION == "int8":
        path, report = cached_export(cfg, "openvino", model, "int8")
    else:
        path, report = cached_export(cfg, cls.format, model)
    runtime = cls(path, cfg.MODEL.PRECISION, Thresholds.from_cfg(cfg))
    runtime.load_report = report
    return runtime
