#!/usr/bin/env python
"""Train or evaluate Mask R-CNN or DeepLabv3 with detectron2's command line (see ``train_net.py --help``).

  python train_net.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml --num-gpus 8
  python train_net.py --config-file configs/person/deeplabv3_R_50.yaml --num-gpus 8
  python train_net.py --config-file configs/tiny/mask_rcnn_R_50_FPN_synthetic.yaml OUTPUT_DIR out/synth
  python train_net.py --config-file CFG --eval-only MODEL.WEIGHTS out/synth/model_final.pth
  python train_net.py --config-file CFG --resume          # continue from OUTPUT_DIR/last_checkpoint
"""

from localstyle.utils.cli import default_argument_parser
from localstyle.utils.errors import cli_errors
from localstyle.utils.file_io import ensure_writable_dir


def main(args):
    """One process's work: evaluation only, or training (then final evaluation when DATASETS.TEST is set), then
    with TEST.AUG.ENABLED the evaluation with test-time augmentation."""
    from localstyle.engine.checkpointer import Checkpointer
    from localstyle.engine.defaults import setup
    from localstyle.engine.trainer import Trainer

    cfg = setup(args)
    if args.eval_only:
        from localstyle.data import register_datasets_from_cfg
        from localstyle.export.runtimes import build_runtime
        from localstyle.modeling import build_model
        from localstyle.modeling.weight_loading import require_all_tensors

        register_datasets_from_cfg(cfg)
        model = build_model(cfg)
        checkpointer = Checkpointer(model, cfg.OUTPUT_DIR)
        checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume, trusted=cfg.MODEL.WEIGHTS_TRUSTED,
                                    allow_missing=True)
        if not cfg.MODEL.WEIGHTS_ALLOW_MISSING:  # AP of a random model is 0: say so instead
            require_all_tensors(checkpointer.load_report, "--eval-only needs weights trained for this config "
                                                          "(MODEL.WEIGHTS_ALLOW_MISSING True evaluates anyway)")
        results = Trainer.test(cfg, build_runtime(cfg, model.eval()))  # MODEL.RUNTIME runs the evaluation
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        results = trainer.train()
        model = trainer.model
    if cfg.TEST.AUG.ENABLED and cfg.DATASETS.TEST:  # as detectron2's train_net: results under inference_TTA
        results.update(Trainer.test_with_TTA(cfg, model))
    return results


def build_parser():
    """detectron2's training flags plus trailing ``KEY VALUE`` overrides."""
    return default_argument_parser()


@cli_errors
def cli(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.engine.defaults import build_config
    from localstyle.engine.launch import launch

    cfg = build_config(args)  # report config errors once, before any process is started
    ensure_writable_dir(cfg.OUTPUT_DIR, "OUTPUT_DIR")
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    cli()
