"""COCO evaluation (bbox, segm) through pycocotools, with detectron2's output format and AP tables."""
from localstyle.evaluation.coco_evaluation import (
    COCOEvaluator,
    evaluate_coco_json,
    inference_on_dataset,
    instances_to_coco_json,
)
from localstyle.evaluation.tables import format_ap_table, markdown_table, save_evaluation

__all__ = [
    "COCOEvaluator",
    "evaluate_coco_json",
    "format_ap_table",
    "inference_on_dataset",
    "instances_to_coco_json",
    "markdown_table",
    "save_evaluation",
]
