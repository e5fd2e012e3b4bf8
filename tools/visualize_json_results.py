#!/usr/bin/env python
"""Draw predictions from a COCO results file next to the ground truth (detectron2's tool): masks, boxes,
class names and scores.

    python tools/visualize_json_results.py --input output/run/inference/coco_instances_results.json \\
        --output vis_results --dataset coco_2017_val_person [--conf-threshold 0.5] [--config-file CFG]

Writes OUTPUT/<image name>.jpg (ground truth | predictions scoring at least --conf-threshold) for every image of
the dataset, or the first --num-images.
"""
import os

from tqdm import tqdm

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--input", required=True, help="coco_instances_results.json")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--dataset", help="registered dataset (default: the config's DATASETS.TEST[0])")
    parser.add_argument("--conf-threshold", type=float, default=0.5, help="draw predictions scoring at least this")
    parser.add_argument("--num-images", type=int, help="only the first N images of the dataset")
    parser.add_argument("--config-file", default="", help="config registering the dataset (DATASETS.REGISTER_COCO)")
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.config import load_config
    from localstyle.data import resolve_dataset
    from localstyle.evaluation.coco_evaluation import read_results_json
    from localstyle.evaluation.visualizer import prediction_vs_truth
    from localstyle.utils.image_io import read_image, write_image

    cfg = load_config(args.config_file) if args.config_file else None
    name, dicts, meta = resolve_dataset(args.dataset, cfg)
    by_image = {}
    for r in read_results_json(args.input):
        by_image.setdefault(r["image_id"], []).append(r)
    dicts = dicts[:args.num_images] if args.num_images else dicts
    for d in tqdm(dicts, desc="drawing", disable=None):
        image = read_image(d["file_name"])
        picture = prediction_vs_truth(image, d, by_image.get(d["image_id"], []), meta, args.conf_threshold)
        write_image(os.path.join(args.output, os.path.splitext(os.path.basename(d["file_name"]))[0] + ".jpg"),
                    picture)
    print(f"wrote {len(dicts)} picture(s) of {name} to {args.output}")


if __name__ == "__main__":
    main()
