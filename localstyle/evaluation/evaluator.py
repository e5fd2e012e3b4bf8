"""The evaluators of a run: COCO AP for instance models, semantic figures for every model (``build_evaluator``)."""
import logging

from localstyle.evaluation.coco_evaluation import COCOEvaluator
from localstyle.evaluation.sem_seg_evaluation import SemSegEvaluator

logger = logging.getLogger(__name__)


class DatasetEvaluators:
    """Several evaluators fed together; ``evaluate()`` merges their result dicts."""

    def __init__(self, evaluators):
        self.evaluators = list(evaluators)

    def reset(self):
        for e in self.evaluators:
            e.reset()

    def process(self, inputs, outputs):
        for e in self.evaluators:
            e.process(inputs, outputs)

    def evaluate(self):
        results = {}
        for e in self.evaluators:
            results.update(e.evaluate())
        return results


def build_evaluator(cfg, dataset_name, output_dir=None):
    """Semantic models: :class:`SemSegEvaluator` over ``MODEL.SEM_SEG_HEAD.CLASSES``. Instance models:
    :class:`COCOEvaluator` plus, when the dataset has those classes, a SemSegEvaluator on the instance masks
    merged per image (scores >= MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH), so both kinds of model
    get the same ``sem_seg`` figures."""
    from localstyle.data.catalog import DatasetCatalog, MetadataCatalog
    from localstyle.data.sem_seg import is_semantic, run_class_names

    classes = list(cfg.MODEL.SEM_SEG_HEAD.CLASSES)
    ignore = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
    if is_semantic(cfg):
        return SemSegEvaluator(dataset_name, classes, ignore)
    dicts = DatasetCatalog.get(dataset_name)  # also fills the metadata
    evaluators = [COCOEvaluator(dataset_name, output_dir, classes=cfg.DATASETS.CLASSES)]
    thing_classes = MetadataCatalog.get(dataset_name).get("thing_classes") or []
    if all(c in thing_classes for c in classes):
        thresh = cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH
        evaluators.append(SemSegEvaluator(dataset_name, classes, ignore, instance_score_thresh=thresh,
                                          dataset_dicts=dicts,
                                          model_classes=run_class_names(dataset_name, cfg.DATASETS.CLASSES)))
    else:
        logger.info(f"{dataset_name} lacks some of MODEL.SEM_SEG_HEAD.CLASSES {classes}: no semantic figures")
    return DatasetEvaluators(evaluators)
