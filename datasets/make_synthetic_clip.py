#!/usr/bin/env python
"""Generate a clip with known motion and masks: textured people walking over a panned scene, or (with --photo) a
camera panning across a real photo with its annotated people.

    python datasets/make_synthetic_clip.py [--output datasets/synthetic_clip] [--width 640] [--height 360] \\
        [--frames 48] [--fps 24] [--people 3] [--pan 2] [--seed 0] \\
        [--photo assets/photos/coco_train2017_000000360452.jpg \\
         --annotations assets/photos/annotations/instances_photos.json]

Writes OUTPUT/clip.mp4, OUTPUT/clip_frames/frame_XXXXXX.png and OUTPUT/clip_annotations.json (COCO, one
image per frame with image_id = frame index), as used by configs/stylize/arbitrary_video.yaml. With --photo the
window (--width x --height) slides from the photo's left edge to its right over --frames frames; the masks are
the photo's COCO person annotations (from --annotations, matched by file name).
"""
import os

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def photo_clip(args):
    """The :class:`PhotoPanClip` of ``args.photo`` and its person annotations."""
    import numpy as np

    from localstyle.data.annotations import segmentation_to_mask
    from localstyle.data.coco import load_coco_api
    from localstyle.utils.image_io import read_image
    from localstyle.video.synthetic import PhotoPanClip

    if not args.annotations:
        raise LocalstyleError("--photo needs --annotations (the COCO file that annotates the photo)")
    image = read_image(args.photo)
    api = load_coco_api(args.annotations)
    name = os.path.basename(args.photo)
    ids = [i for i, info in api.imgs.items() if info["file_name"] == name]
    if not ids:
        raise LocalstyleError(f"{args.annotations}: no image named {name}")
    person = api.getCatIds(catNms=["person"])
    anns = [a for a in api.imgToAnns[ids[0]] if a["category_id"] in person and not a.get("iscrowd")]
    h, w = image.shape[:2]
    masks = np.array([segmentation_to_mask(a["segmentation"], h, w) > 0 for a in anns], bool).reshape(-1, h, w)
    return PhotoPanClip(image, masks, args.width, args.height, args.frames, args.fps)


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
    p.add_argument("--photo", help="a real photo to pan across instead of generated people")
    p.add_argument("--annotations", help="COCO annotations of --photo (its people's masks)")
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.width < 64 or args.height < 64 or args.frames < 1 or args.people < 0:
        raise LocalstyleError("--width/--height must be >= 64, --frames >= 1 and --people >= 0")
    from localstyle.video.synthetic import SyntheticClip, write_synthetic_clip

    if args.photo:
        clip = photo_clip(args)
    else:
        clip = SyntheticClip(args.width, args.height, args.frames, args.fps, args.people, args.pan, args.seed)
    for path in write_synthetic_clip(clip, args.output):
        print(path)


if __name__ == "__main__":
    main()
