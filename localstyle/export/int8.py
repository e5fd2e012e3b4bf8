"""INT8 predictors for OpenVINO: NNCF post-training quantization of the exported predictor on calibration images
(``MODEL.INT8.CALIB_FOLDER``, else ``DATASETS.TRAIN[0]``), with NNCF's accuracy control when a validation function
is given."""
import logging
import os

import numpy as np

from localstyle.export.thresholds import Thresholds
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)

# ops kept in floating point: those of TracingPredictor itself (named at the top level of the traced graph), i.e.
# normalization, box decoding, thresholds, NMS glue and the mask paste, whose coordinates and bilinear weights
# int8 would round away; the network's layers (backbone, RPN head, box and mask heads) are quantized
FLOAT_OPS = [r"^/[^/]+$"]


def calibration_files(cfg):
    """``MODEL.INT8.CALIB_IMAGES`` image paths spread evenly over MODEL.INT8.CALIB_FOLDER's images (sorted), else
    over DATASETS.TRAIN[0]'s (dataset order)."""
    from localstyle.utils.image_io import list_image_files

    count, folder = cfg.MODEL.INT8.CALIB_IMAGES, cfg.MODEL.INT8.CALIB_FOLDER
    if count < 1:
        raise LocalstyleError(f"MODEL.INT8.CALIB_IMAGES {count}: quantization needs at least one calibration image")
    if folder:
        if not os.path.isdir(folder):
            raise LocalstyleError(f"MODEL.INT8.CALIB_FOLDER {folder}: no such folder")
        paths = list_image_files(folder)
    elif cfg.DATASETS.TRAIN:
        from localstyle.data import resolve_dataset

        paths = [d["file_name"] for d in resolve_dataset(cfg.DATASETS.TRAIN[0], cfg)[1]]
    else:
        raise LocalstyleError("MODEL.PRECISION int8 needs calibration images: set MODEL.INT8.CALIB_FOLDER or "
                              "DATASETS.TRAIN")
    if not paths:
        raise LocalstyleError(f"{folder or cfg.DATASETS.TRAIN[0]}: no calibration images")
    picks = np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)
    return [paths[i] for i in sorted(set(picks.tolist()))]


def predictor_inputs(cfg, path):
    """The exported predictor's inputs for the image at ``path`` (resized as DefaultPredictor does) as numpy."""
    from localstyle.data.transforms import resize_for_test
    from localstyle.utils.image_io import read_image

    image = read_image(path, format=cfg.INPUT.FORMAT)
    tensor = resize_for_test(image, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    score, dets = Thresholds.from_cfg(cfg).inputs()
    return {"image": tensor.numpy(), "size": np.array(image.shape[:2], np.int64), "score_thresh": score.numpy(),
            "detections_per_image": dets.numpy()}


def quantize_int8(model, cfg, files, validate=None, max_drop=None):
    """``model`` (an ``openvino.Model`` of the exported predictor) quantized to INT8 by NNCF on ``files``.

    ``validate(compiled_model, paths) -> metric`` and ``max_drop`` (absolute, the metric's units) turn on NNCF's
    accuracy control, which keeps layers in floating point until the metric on ``files`` drops at most that much.
    """
    import nncf

    calibration = nncf.Dataset([predictor_inputs(cfg, p) for p in files])
    logger.info("Quantizing the predictor to INT8 with NNCF on %d calibration images%s", len(files),
                f" (accuracy control: at most {max_drop} drop)" if validate else "")
    common = dict(subset_size=len(files), ignored_scope=nncf.IgnoredScope(patterns=FLOAT_OPS, validate=False))
    if validate is None:
        return nncf.quantize(model, calibration, **common)
    validation = nncf.Dataset(list(files))
    return nncf.quantize_with_accuracy_control(model, calibration, validation, validate, max_drop=max_drop,
                                               drop_type=nncf.DropType.ABSOLUTE, **common)
