#!/usr/bin/env python
"""Draw the training data: the ground truth as stored (--source annotation) or the images exactly as the
training loader augments them (--source dataloader), with masks, boxes and class names (detectron2's tool).

    python tools/visualize_data.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml \\
        --source dataloader --output-dir vis_data [--num-images 20] [KEY VALUE ...]

Writes OUTPUT_DIR/<index>_<image name>.jpg for the first --num-images images of DATASETS.TRAIN (annotation) or
of the loader's batches (dataloader, in training order: resize, flip and crop as trained on).
"""
import itertools
import os

from tqdm import tqdm

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors


def annotation_samples(cfg):
    """``(file_name, RGB image, VisInstances)`` of DATASETS.TRAIN as stored."""
    from localstyle.data.build import get_detection_dataset_dicts
    from localstyle.evaluation.visualizer import from_annotations
    from localstyle.utils.image_io import read_image

    for d in get_detection_dataset_dicts(cfg.DATASETS.TRAIN, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS):
        image = read_image(d["file_name"])
        yield d["file_name"], image, from_annotations(d.get("annotations", []), *image.shape[:2])


def dataloader_samples(cfg):
    """``(file_name, RGB image, VisInstances)`` of the training loader's batches, as the model receives them."""
    from localstyle.data.build import build_detection_train_loader
    from localstyle.evaluation.visualizer import from_instances

    for batch in build_detection_train_loader(cfg):
        for d in batch:
            image = d["image"].permute(1, 2, 0).numpy()
            if cfg.INPUT.FORMAT == "BGR":
                image = image[:, :, ::-1]
            yield d["file_name"], image, from_instances(d["instances"])


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="", metavar="FILE")
    parser.add_argument("--source", choices=["annotation", "dataloader"], required=True)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--num-images", type=int, default=20, help="how many images to draw")
    add_config_opts(parser)
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.data import MetadataCatalog, register_datasets_from_cfg
    from localstyle.evaluation.visualizer import draw_instances
    from localstyle.utils.image_io import write_image

    cfg = load_config(args.config_file, args.opts)
    register_datasets_from_cfg(cfg)
    samples = annotation_samples(cfg) if args.source == "annotation" else dataloader_samples(cfg)
    names = None
    for index, (file_name, image, instances) in enumerate(tqdm(itertools.islice(samples, args.num_images),
                                                               total=args.num_images, disable=None)):
        if names is None:  # the loader's class ids follow DATASETS.CLASSES; stored annotations the dataset's own
            selected = args.source == "dataloader" and list(cfg.DATASETS.CLASSES)
            names = selected or MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("thing_classes", [])
        stem = os.path.splitext(os.path.basename(file_name))[0]
        write_image(os.path.join(args.output_dir, f"{index:04d}_{stem}.jpg"),
                    draw_instances(image, instances, names))
    print(f"wrote {args.num_images} picture(s) of {', '.join(cfg.DATASETS.TRAIN)} ({args.source}) "
          f"to {args.output_dir}")


if __name__ == "__main__":
    main()
