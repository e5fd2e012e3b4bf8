#!/usr/bin/env python
"""Export a localstyle model as a detectron2 checkpoint + config.

    python tools/export_detectron2.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml \\
        MODEL.WEIGHTS output/model_final.pth --output exported/

writes ``exported/model_final.pth`` (``{"model": state_dict}`` with detectron2's names) and ``exported/config.yaml``
(detectron2 keys only, MODEL.WEIGHTS pointing at the .pth). In detectron2:
``cfg = get_cfg(); cfg.merge_from_file("exported/config.yaml"); DefaultPredictor(cfg)``.
Trailing ``KEY VALUE`` pairs override the config, as for train_net.py.
"""
import logging
import sys

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="", metavar="FILE", help="localstyle/detectron2 config YAML")
    parser.add_argument("--output", required=True, metavar="DIR", help="directory for model_final.pth + config.yaml")
    parser.add_argument("--name", default="model_final", help="checkpoint file name without .pth")
    return parser


def parse_args(argv=None):
    """The flags, and every other argument as the trailing ``KEY VALUE`` overrides (``args.opts``)."""
    parser = build_parser()
    args, opts = parser.parse_known_args(argv)
    bad = [o for o in opts[0::2] if o.startswith("-")]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)}")
    args.opts = opts
    return args


@cli_errors
def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from localstyle.config import load_config
    from localstyle.modeling import build_model
    from localstyle.modeling.weight_loading import export_detectron2, load_model_weights

    cfg = load_config(args.config_file, args.opts)
    if not cfg.MODEL.WEIGHTS:
        raise LocalstyleError(f"{args.config_file or 'config'}: MODEL.WEIGHTS is empty; pass the trained checkpoint "
                              "to export, e.g. MODEL.WEIGHTS output/model_final.pth")
    cpu_cfg = cfg.clone()
    cpu_cfg.MODEL.DEVICE = "cpu"
    model = build_model(cpu_cfg)
    load_model_weights(model, cpu_cfg)
    pth, yaml_path = export_detectron2(model, cfg, args.output, args.name)
    print(f"wrote {pth}\nwrote {yaml_path}")


if __name__ == "__main__":
    sys.exit(main())
