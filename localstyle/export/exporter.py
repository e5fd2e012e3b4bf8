"""Export the whole predictor (``TracingPredictor``) to ONNX or TorchScript, and load weights for it."""
import os
import tempfile
import warnings

import torch

from localstyle.export.fold import fold_frozen_batchnorm
from localstyle.export.int8 import calibration_files, quantize_int8
from localstyle.export.openvino_io import read_openvino, save_openvino
from localstyle.export.thresholds import Thresholds
from localstyle.export.tracing import TracingPredictor
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, atomic_path

# format -> file name inside the export folder
EXPORT_FILES = {"onnx": "model.onnx", "torchscript": "model.ts", "openvino": "model.xml"}
INPUT_NAMES = ["image", "size", "score_thresh", "detections_per_image"]
OUTPUT_NAMES = ["boxes", "scores", "classes", "masks"]
ONNX_OPSET = 17


def build_inference_model(cfg, fold=True):
    """``cfg``'s model with ``MODEL.WEIGHTS`` loaded, in eval mode, FrozenBN folded into the convs when ``fold``.

    Returns ``(model, load_report)``; the report (see ``load_model_weights``) also counts the model's ``tensors``.
    """
    from localstyle.modeling import build_model
    from localstyle.modeling.weight_loading import load_model_weights

    model = build_model(cfg)
    model.eval()
    report = load_model_weights(model, cfg)  # counts the tensors before folding
    for p in model.parameters():
        p.requires_grad_(False)
    if fold:
        fold_frozen_batchnorm(model)
    return model, report


def sample_inputs(cfg):
    """A trace input: a deterministic 3 x MIN_SIZE_TEST x (4/3 of it) image, its size (any content will do) and
    ``cfg``'s thresholds."""
    h = cfg.INPUT.MIN_SIZE_TEST
    w = min(h * 4 // 3, cfg.INPUT.MAX_SIZE_TEST) if cfg.INPUT.MAX_SIZE_TEST > 0 else h * 4 // 3
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, h, w), generator=g).float()
    return (image, torch.tensor([h, w], dtype=torch.int64), *Thresholds.from_cfg(cfg).inputs())


def export_predictor(model, cfg, fmt, output_dir, precision="fp32", validate=None, max_drop=None):
    """Trace ``model`` (eval, CPU) with its pre- and postprocessing and write ``output_dir/EXPORT_FILES[fmt]``
    (atomically) plus ``config.yaml``. Returns the model file's path.

    ``fmt`` openvino writes OpenVINO IR (``model.xml`` + ``model.bin``); with ``precision`` int8 quantized by NNCF on
    ``cfg``'s calibration images (:mod:`localstyle.export.int8`; ``validate``/``max_drop``: its accuracy control).
    """
    if fmt not in EXPORT_FILES:
        raise LocalstyleError(f"--format {fmt!r}: use one of {sorted(EXPORT_FILES)}")
    if precision not in ("fp32", "int8") or (precision == "int8" and fmt != "openvino"):
        raise LocalstyleError(f"--precision {precision}: exported files are fp32, or int8 with --format openvino")
    if not cfg.MODEL.MASK_ON or cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":
        raise LocalstyleError("exporting needs a GeneralizedRCNN with MODEL.MASK_ON True")
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, EXPORT_FILES[fmt])
    if fmt == "openvino":
        with tempfile.TemporaryDirectory(dir=output_dir) as tmp:
            ov_model = read_openvino(export_predictor(model, cfg, "onnx", tmp))
            if precision == "int8":
                ov_model = quantize_int8(ov_model, cfg, calibration_files(cfg), validate, max_drop)
            save_openvino(ov_model, path)
    else:
        trace_predictor(model, cfg, fmt, path)
    with atomic_open(os.path.join(output_dir, "config.yaml")) as f:
        f.write(cfg.dump())
    return path


def trace_predictor(model, cfg, fmt, path):
    """Write ``model``'s ``TracingPredictor`` traced on :func:`sample_inputs` to ``path`` as ONNX or TorchScript."""
    wrapper = TracingPredictor(model.cpu().eval()).eval()
    inputs = sample_inputs(cfg)
    with atomic_path(path) as tmp_path, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent values are expected here
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(wrapper, inputs, check_trace=False), tmp_path)
        else:
            torch.onnx.export(wrapper, inputs, tmp_path, dynamo=False, opset_version=ONNX_OPSET,
                              input_names=INPUT_NAMES, output_names=OUTPUT_NAMES, external_data=False,
                              dynamic_axes={"image": [1, 2], "boxes": [0], "scores": [0], "classes": [0],
                                            "masks": [0, 1, 2]})
