"""DefaultPredictor: detectron2's one-call inference (resize like detectron2, run the model, original-size output)."""
import os

import numpy as np

from localstyle.utils.errors import LocalstyleError


class DefaultPredictor:
    """Build ``cfg``'s predictor runtime (``MODEL.RUNTIME``) and predict on BGR uint8 H x W x 3 arrays.

    ``pred(image)`` -> ``{"instances": Instances}`` (``{"sem_seg": C x H x W probabilities}`` for semantic
    models; CPU tensors, original image size); ``image`` may also be a path. ``pred.predict_batch(images)`` runs
    several images as one batch. ``pred.model`` is the eager model (None for an exported runtime);
    ``pred.load_report`` holds the weight-loading report (skipped / missing / unexpected keys; None when an
    exported model was loaded as is).
    """

    def __init__(self, cfg):
        from localstyle.export.runtimes import build_runtime

        self.cfg = cfg.clone()
        self.runtime = build_runtime(self.cfg)
        self.model = self.runtime.model
        self.load_report = self.runtime.load_report
        self.min_size, self.max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        self.input_format = cfg.INPUT.FORMAT

    def _prepare(self, image):
        """BGR array (or path) -> model input dict: resized (PIL bilinear on uint8), CHW float32, format order."""
        from localstyle.data.transforms import resize_for_test

        if isinstance(image, (str, os.PathLike)):
            from localstyle.utils.image_io import read_image

            image = read_image(image, format="BGR")
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise LocalstyleError(f"DefaultPredictor expects a BGR uint8 H x W x 3 array, got dtype {image.dtype} "
                                  f"shape {image.shape}")
        if self.input_format == "RGB":
            image = image[:, :, ::-1]
        height, width = image.shape[:2]
        return {"image": resize_for_test(image, self.min_size, self.max_size), "height": height, "width": width}

    def predict_batch(self, images):
        """Predict a list of BGR arrays (or paths) in one batch; returns the model's outputs on the CPU."""
        if not images:
            return []
        outputs = self.runtime([self._prepare(im) for im in images])
        return [{k: v.to("cpu") for k, v in o.items()} for o in outputs]

    def __call__(self, image):
        return self.predict_batch([image])[0]
