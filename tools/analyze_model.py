#!/usr/bin/env python
"""Model analysis (detectron2's tools/analyze_model.py): FLOPs and activations on the config's real inputs,
parameter counts, structure.

    python tools/analyze_model.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml \\
        --tasks flop activation parameter structure [-n 10] MODEL.DEVICE cpu [MODEL.WEIGHTS model_final.pth]

flop / activation: fvcore's FlopCountAnalysis / ActivationCountAnalysis traced on the first ``--num-inputs`` images
of DATASETS.TEST[0] (DATASETS.TRAIN[0] without one), resized as at test time (INPUT.MIN_SIZE_TEST/MAX_SIZE_TEST);
prints the per-module table of the first image and the mean +- std over all of them. The counts depend on the
weights (the number of detections the mask head runs on), so set MODEL.WEIGHTS for a trained model's figures.
Ops fvcore has no formula for (torchvision's roi_align and nms, ...) are named in a note and counted as 0.
parameter: fvcore's parameter_count_table. structure: the module tree.
"""
import itertools

import numpy as np

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors

TASKS = ("flop", "activation", "parameter", "structure")


def _inputs(cfg, num_inputs):
    from localstyle.data.build import build_detection_test_loader

    names = cfg.DATASETS.TEST or cfg.DATASETS.TRAIN
    if not names:
        raise LocalstyleError("flop/activation analysis needs real inputs: set DATASETS.TEST (or DATASETS.TRAIN)")
    loader = build_detection_test_loader(cfg, names[0])
    return (batch[0] for batch in itertools.islice(loader, num_inputs))


def _count(cfg, model, kind, num_inputs):
    from localstyle.utils.model_analysis import count_model

    summary = count_model(model, _inputs(cfg, num_inputs), kind)
    unit, scale = ("GFlops", 1e9) if kind == "flop" else ("Million activations", 1e6)
    totals = np.array(summary.totals) / scale
    table = summary.first_table if kind == "flop" else summary.first_table.replace("#flops", "#activations")
    lines = [f"{kind} count per module, first input:", table,
             f"Average {unit} per operator: " + ", ".join(
                 f"{op}: {v / len(totals) / scale:.4g}" for op, v in summary.by_operator.most_common()),
             f"Total {unit}: {totals.mean():.4g} +- {totals.std():.2g} over {len(totals)} input(s)"]
    return "\n".join(lines + [summary.note()] if summary.note() else lines)


def analyze(cfg, tasks, num_inputs=10):
    """``{task: text}`` for the requested tasks, on the model of ``cfg`` (MODEL.WEIGHTS loaded when set)."""
    from fvcore.nn import parameter_count_table

    from localstyle.data import register_datasets_from_cfg
    from localstyle.engine.checkpointer import Checkpointer
    from localstyle.modeling import build_model

    register_datasets_from_cfg(cfg)
    model = build_model(cfg)
    Checkpointer(model, cfg.OUTPUT_DIR, save_to_disk=False).resume_or_load(cfg.MODEL.WEIGHTS, resume=False,
                                                                          allow_missing=True)  # shapes only
    model.eval()
    out = {}
    for task in tasks:
        if task in ("flop", "activation"):
            out[task] = _count(cfg, model, task, num_inputs)
        elif task == "parameter":
            out[task] = "Parameter count:\n" + parameter_count_table(model, max_depth=5)
        else:
            out[task] = "Model structure:\n" + str(model)
    return out


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, required=True)
    parser.add_argument("-n", "--num-inputs", type=int, default=10,
                        help="images traced for flop/activation (they are data dependent)")
    return add_config_opts(parser)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.engine.defaults import build_config
    from localstyle.utils.logger import setup_logger

    setup_logger()
    cfg = build_config(args)
    results = analyze(cfg, args.tasks, args.num_inputs)
    for text in results.values():
        print(text, flush=True)
    return results


if __name__ == "__main__":
    main()
