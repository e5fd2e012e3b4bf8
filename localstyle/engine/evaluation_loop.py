"""Evaluation around training (detectron2's ``DefaultTrainer.test`` and ``EvalHook``): evaluate on every
DATASETS.TEST entry, with test-time augmentation, and, during training, TEST.PRECISE_BN + evaluation +
TEST.VAL_LOSS written to metrics.json, then SOLVER.BEST_CHECKPOINT and SOLVER.EARLY_STOPPING."""
import logging
import os

from localstyle.engine.checkpointer import unwrap_model
from localstyle.engine.precise_bn import precise_bn
from localstyle.engine.validation_loss import validation_loss
from localstyle.evaluation import build_evaluator, inference_on_dataset, save_evaluation
from localstyle.utils import comm
from localstyle.utils.file_io import safe_path_component

logger = logging.getLogger(__name__)


def test(cfg, model, iteration=None, output_name="inference"):
    """Evaluate ``model`` on every DATASETS.TEST entry; on the main process returns ``{dataset: results}``,
    writes ``OUTPUT_DIR/<output_name>[/<dataset>]/{coco_instances_results.json, results.json, pr_curves.npz,
    ap_table.md}`` (results.json has ``sem_seg`` figures for semantic models and, merged per image, for
    instance models) and logs the tables."""
    from localstyle.data.build import build_detection_test_loader

    model = unwrap_model(model)
    all_results = {}
    for name in cfg.DATASETS.TEST:
        output_dir = os.path.join(cfg.OUTPUT_DIR, output_name)
        if len(cfg.DATASETS.TEST) > 1:
            output_dir = os.path.join(output_dir, safe_path_component(name))
        loader = build_detection_test_loader(cfg, name)
        results = inference_on_dataset(model, loader, build_evaluator(cfg, name, output_dir))
        if comm.is_main_process():
            extra = {"dataset": name, "iteration": iteration, "weights": cfg.MODEL.WEIGHTS}
            table = save_evaluation(results, output_dir, extra=extra)
            logger.info(f"Evaluation results for {name} (iteration {iteration}), "
                        f"{results['timing']['inference_ms_per_image']:.1f} ms/image:\n{table}")
            all_results[name] = results
    return all_results


def test_with_TTA(cfg, model):
    """:func:`test` with TEST.AUG's test-time augmentation, into ``OUTPUT_DIR/inference_TTA``; returns
    ``{"<dataset>_TTA": results}``."""
    from localstyle.modeling.test_time_augmentation import GeneralizedRCNNWithTTA

    logger.info(f"Evaluating with test-time augmentation: sizes {tuple(cfg.TEST.AUG.MIN_SIZES)}, "
                f"flip {cfg.TEST.AUG.FLIP}")
    results = test(cfg, GeneralizedRCNNWithTTA(cfg, unwrap_model(model)), output_name="inference_TTA")
    return {f"{name}_TTA": res for name, res in results.items()}


def eval_and_log(cfg, model, iteration, writer=None, hooks=()):
    """TEST.PRECISE_BN, evaluation, TEST.VAL_LOSS after ``iteration``; ``writer`` (a MetricsWriter) gets
    ``[<dataset>/]{bbox,segm}/<metric>`` and ``val_*``; then, on the main process, each of ``hooks`` (a
    BestCheckpointer, EarlyStopping) steps with them. Returns the evaluation results."""
    if cfg.DATASETS.TEST:
        precise_bn(cfg, model, iteration + 1)
    results = test(cfg, model, iteration=iteration)
    flat = {f"{name}/{task}/{k}" if len(results) > 1 else f"{task}/{k}": v for name, res in results.items()
            for task in ("bbox", "segm", "sem_seg") for k, v in res.get(task, {}).items()}
    if cfg.TEST.VAL_LOSS and cfg.DATASETS.TEST:
        flat.update(validation_loss(cfg, model))
    if writer is not None and flat:
        writer.write_scalars(iteration, flat)
    if comm.is_main_process():
        for hook in hooks:
            hook.step(iteration, flat)
    comm.synchronize()
    return results
