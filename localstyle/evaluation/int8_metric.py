"""The metric of NNCF's INT8 accuracy control: mask AP of an OpenVINO predictor on annotated calibration images."""
import math

import torch

from localstyle.utils.errors import LocalstyleError


def mask_ap_metric(cfg):
    """``validate(compiled_model, paths) -> mask AP`` (points) of a compiled exported predictor on images of
    DATASETS.TRAIN[0] (their annotations are the ground truth), for ``quantize_int8(..., validate, max_drop)``."""
    from localstyle.data import resolve_dataset
    from localstyle.data.classes import class_selection
    from localstyle.data.coco import load_coco_api
    from localstyle.evaluation.coco_evaluation import coco_metrics, instances_to_coco_json, run_cocoeval
    from localstyle.export.int8 import predictor_inputs
    from localstyle.structures import Boxes, Instances

    if cfg.MODEL.INT8.CALIB_FOLDER or not cfg.DATASETS.TRAIN:
        raise LocalstyleError("--max-ap-drop: accuracy control measures mask AP on annotated calibration images; "
                              "calibrate on DATASETS.TRAIN (leave MODEL.INT8.CALIB_FOLDER empty)")
    name, dicts, meta = resolve_dataset(cfg.DATASETS.TRAIN[0], cfg)
    image_ids = {d["file_name"]: d["image_id"] for d in dicts}
    selection = class_selection(name, cfg.DATASETS.CLASSES)
    class_to_category = selection.class_to_dataset_id() if selection is not None else None
    coco_gt = load_coco_api(meta.json_file)

    def validate(compiled, paths):
        request, results = compiled.create_infer_request(), []
        for path in paths:
            inputs = predictor_inputs(cfg, path)
            outs = request.infer(inputs)
            boxes, scores, classes, masks = (torch.from_numpy(outs[o]) for o in compiled.outputs)
            inst = Instances(tuple(int(s) for s in inputs["size"]), pred_boxes=Boxes(boxes), scores=scores,
                             pred_classes=classes, pred_masks=masks)
            results += instances_to_coco_json(inst, image_ids[path], class_to_category)
        ev = run_cocoeval(coco_gt, results, "segm", params={"imgIds": [image_ids[p] for p in paths]})
        ap = coco_metrics(ev)["AP"]
        return 0.0 if math.isnan(ap) else ap

    return validate
