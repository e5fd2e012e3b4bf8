"""COCO evaluation (bbox, segm) through pycocotools, semantic figures (mIoU, Boundary IoU), AP tables."""
from localstyle.evaluation.coco_evaluation import (
    COCOEvaluator,
    evaluate_coco_json,
    inference_on_dataset,
    instances_to_coco_json,
)
from localstyle.evaluation.evaluator import DatasetEvaluators, build_evaluator
from localstyle.evaluation.sem_seg_evaluation import SemSegEvaluator, SemSegMetrics
from localstyle.evaluation.tables import format_ap_table, markdown_table, save_evaluation

__all__ = [
    "COCOEvaluator",
    "DatasetEvaluators",
    "SemSegEvaluator",
    "SemSegMetrics",
    "build_evaluator",
    "evaluate_coco_json",
    "format_ap_table",
    "inference_on_dataset",
    "instances_to_coco_json",
    "markdown_table",
    "save_evaluation",
]
