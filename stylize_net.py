#!/usr/bin/env python
"""Style the people (or any COCO class) in a batch of photos, from a config file.

  python stylize_net.py --input assets/photos --output out/people   # the shipped person model, The Starry Night
  python stylize_net.py --config-file configs/stylize/gatys_starry_night_annotations.yaml \\
      --input assets/photos --output out/starry
  python stylize_net.py --config-file configs/stylize/gatys_person_predictor.yaml \\
      --input "photos/*.jpg" --output out/pred MODEL.WEIGHTS model_final.pth STYLE.SIZE 384
  python stylize_net.py --config-file configs/stylize/arbitrary_starry_night.yaml --input photos/ \\
      --output out/mine MASKS.SOURCE predictor MODEL.WEIGHTS output/run/model_final.pth
  python stylize_net.py ... --overwrite        # redo images whose outputs already exist

A trained model's architecture comes from --model-config FILE, else from the config.yaml that train_net.py wrote
next to MODEL.WEIGHTS.

Writes <stem>.png, <stem>_mask.png, <stem>_strip.jpg per image and manifest.json into --output.

Video: a video file or a camera index as --input (or --video with a folder of frames) writes <stem>.mp4,
<stem>_mask.mp4, <stem>_compare.mp4 (original | stylized), <stem>_strip.jpg (key frames) and manifest.json:
  python stylize_net.py --config-file configs/stylize/arbitrary_video.yaml --input clip.mp4 --output out/
  python stylize_net.py --config-file CFG --input 0 --output out/cam VIDEO.MAX_FRAMES 300
"""
import logging
import os

from localstyle.config.model_config import stylize_config
from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors

DEFAULT_CONFIG = os.path.join("configs", "stylize", "person_default.yaml")


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--config-file", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configs/stylize/<name>.yaml (default: {DEFAULT_CONFIG}: the shipped person model)")
    p.add_argument("--model-config", metavar="FILE",
                   help="the config MODEL.WEIGHTS was trained with (default: config.yaml next to the weights)")
    p.add_argument("--input", required=True,
                   help="an image file, a folder of images, a glob pattern, a video file or a camera index")
    p.add_argument("--video", action="store_true", help="treat a folder --input as the frames of one clip")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="redo images whose outputs are already complete")
    add_config_opts(p)
    return p


@cli_errors
def main(argv=None):
    """Parse the command line, load the config, run the photo (or video) runner."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = stylize_config(args.config_file, args.opts, args.model_config)
    from localstyle.data import register_datasets_from_cfg
    from localstyle.stylize import StylizeRunner, list_inputs

    register_datasets_from_cfg(cfg)
    from localstyle.video import VideoRunner, is_video_input, open_video

    if args.video or is_video_input(args.input):
        reader = open_video(args.input, cfg.VIDEO.FPS)
        VideoRunner(cfg, args.output, overwrite=args.overwrite).run(reader)
        return 0
    inputs = list_inputs(args.input)
    summary = StylizeRunner(cfg, args.output, overwrite=args.overwrite).run(inputs)
    return 1 if summary["failed"] and not summary["done"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
