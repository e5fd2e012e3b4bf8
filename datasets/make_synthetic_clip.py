#!/usr/bin/env python
"""Generate a synthetic clip with known motion and masks: textured people walking over a panned scene.

    python datasets/make_synthetic_clip.py [--output datasets/synthetic_clip] [--width 640] [--height 360] \\
        [--frames 48] [--fps 24] [--people 3] [--pan 2] [--seed 0]

Writes OUTPUT/clip.mp4, OUTPUT/clip_frames/frame_XXXXXX.png and OUTPUT/clip_annotations.json (COCO, one
image per frame with image_id = frame index), as used by configs/stylize/arbitrary_video.yaml.
"""
import os

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors
from localstyle.video.synthetic import SyntheticClip, write_synthetic_clip


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--output", default=os.path.join("datasets", "synthetic_clip"))
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--people", type=int, default=3)
    p.add_argument("--pan", type=int, default=2, help="camera pan in pixels per frame")
    p.add_argument("--seed", type=int, default=0)
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.width < 64 or args.height < 64 or args.frames < 1 or args.people < 0:
        raise LocalstyleError("--width/--height must be >= 64, --frames >= 1 and --people >= 0")
    clip = SyntheticClip(args.width, args.height, args.frames, args.fps, args.people, args.pan, args.seed)
    for path in write_synthetic_clip(clip, args.output):
        print(path)


if __name__ == "__main__":
    main()
