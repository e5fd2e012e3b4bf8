#!/usr/bin/env python
"""Speed benchmarks (detectron2's tools/benchmark.py) on a config's model and registered datasets.

    python tools/benchmark.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml --task train
    python tools/benchmark.py --config-file CFG --task eval MODEL.WEIGHTS output/.../model_final.pth
    python tools/benchmark.py --config-file CFG --task data DATALOADER.NUM_WORKERS 8
    python tools/benchmark.py --config-file CFG --task runtimes MODEL.WEIGHTS output/.../model_final.pth

train: iterations/s of the training step (forward, backward, optimizer) on batches of DATASETS.TRAIN loaded
beforehand. eval: inference ms/image over images of DATASETS.TEST[0] loaded beforehand. data: images/s of the
training data loader with the config's DATALOADER.NUM_WORKERS. runtimes: one table per MODEL.RUNTIME x
MODEL.PRECISION (eager fp32/bf16, onnxruntime, torchscript, openvino fp32/bf16/int8) of box and mask AP on
DATASETS.TEST[0], ms/image, speed-up over eager fp32, model file size and whether this CPU runs the precision
natively; printed and written to OUTPUT_DIR/runtimes.md and runtimes.csv (int8 calibrates on MODEL.INT8.CALIB_FOLDER
or DATASETS.TRAIN). Progress with an ETA is logged every 5 s.
"""

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import cli_errors


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="", metavar="FILE", help="path to config file")
    parser.add_argument("--task", choices=("train", "eval", "data", "runtimes"), required=True)
    parser.add_argument("--iters", type=int, default=100, help="timed iterations (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default 5)")
    parser.add_argument("--runs", default="", metavar="RUNTIME:PRECISION,...",
                        help="runtimes task: the rows (default: eager fp32/bf16, onnxruntime, torchscript, openvino "
                             "fp32/bf16/int8)")
    return add_config_opts(parser)


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.engine import benchmark
    from localstyle.engine.defaults import build_config
    from localstyle.utils.logger import setup_logger

    setup_logger()
    cfg = build_config(args)
    cfg.freeze()
    if args.task == "runtimes":
        from localstyle.evaluation.runtime_table import RUNS, parse_runs, runtime_table, write_runtime_table

        rows = runtime_table(cfg, parse_runs(args.runs) if args.runs else RUNS)
        print(write_runtime_table(rows, cfg.OUTPUT_DIR), flush=True)
        return rows
    run = {"train": benchmark.benchmark_train, "eval": benchmark.benchmark_eval, "data": benchmark.benchmark_data}
    result = run[args.task](cfg, args.warmup, args.iters)
    print(result.summary(), flush=True)
    return result


if __name__ == "__main__":
    main()
