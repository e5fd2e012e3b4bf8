#!/usr/bin/env python
"""Train a feed-forward (Johnson et al.) style network for one style image; optionally export it to ONNX.

  python train_style_net.py --config-file configs/stylize/feedforward_starry_night.yaml \\
      --images assets/photos --output output/ff_starry --export-onnx
  python train_style_net.py --style painting.jpg --dataset coco_2017_train_person --output out/ff \\
      FEEDFORWARD.MAX_ITER 4000
  python train_style_net.py --config-file CFG --output out/ff --resume     # continue from out/ff/last_checkpoint

Then stylize with ``STYLE.METHOD feedforward STYLE.WEIGHTS out/ff/model_final.pth`` (or ``model_final.onnx``).
"""
import os

from localstyle.config import load_config
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors
from localstyle.utils.logger import setup_logger


def build_parser():
    """Flags of train_style_net.py; trailing ``KEY VALUE`` pairs override the config."""
    p = argument_parser(__doc__)
    p.add_argument("--config-file", default="", metavar="FILE", help="YAML config (detectron2 format)")
    p.add_argument("--style", metavar="IMAGE", help="style image (sets STYLE.IMAGE)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--images", metavar="DIR", help="folder of training photos (sets FEEDFORWARD.IMAGE_DIR)")
    source.add_argument("--dataset", metavar="NAME", help="registered dataset to train on (sets FEEDFORWARD.DATASET)")
    p.add_argument("--output", metavar="DIR", help="output directory (sets OUTPUT_DIR)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last_checkpoint if present")
    p.add_argument("--export-onnx", action="store_true", help="also write OUTPUT_DIR/model_final.onnx")
    add_config_opts(p)
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    opts = list(args.opts)
    for flag, key in ((args.style, "STYLE.IMAGE"), (args.output, "OUTPUT_DIR")):
        if flag:
            opts += [key, flag]
    if args.images:
        opts += ["FEEDFORWARD.IMAGE_DIR", args.images, "FEEDFORWARD.DATASET", ""]
    if args.dataset:
        opts += ["FEEDFORWARD.DATASET", args.dataset, "FEEDFORWARD.IMAGE_DIR", ""]
    cfg = load_config(args.config_file or None, opts)
    setup_logger(cfg.OUTPUT_DIR)  # console and OUTPUT_DIR/log.txt

    from localstyle.style.train_feedforward import FeedForwardTrainer

    trainer = FeedForwardTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    final = trainer.train()
    print(f"network: {final}")
    if args.export_onnx:
        from localstyle.style.onnx_export import export_onnx

        print(f"onnx: {export_onnx(final, os.path.splitext(final)[0] + '.onnx')}")


if __name__ == "__main__":
    main()
