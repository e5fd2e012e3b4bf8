#!/usr/bin/env python
"""INT8 predictor (OpenVINO + NNCF post-training quantization) against OpenVINO fp32, same process, same images.

    flock /tmp/localstyle-cpu.lock python benchmarks/bench_int8.py [--val-images 40] [--calib-images 32]
        [--threads 2]

Model: detectron2's thin R50-FPN fixture (tests/fixtures/detectron2/thin_r50_fpn.pth, a real detectron2 checkpoint
that detects the synthetic persons and balls). Data: a fresh synthetic person/ball set (localstyle.data.synthetic,
seeded): ``--calib-images`` training images calibrate the INT8 model (DATASETS.TRAIN), ``--val-images`` validation
images give box/mask AP and ms/image (model only, after 5 warm-up images; inference_on_dataset). The INT8 model is
quantized into a private cache, so every run quantizes afresh. Ends with
``result: int8_speedup ratio=<OpenVINO fp32 ms / INT8 ms> target>=1.6`` and
``result: int8_mask_ap_drop value=<fp32 mask AP - INT8 mask AP, points> target<=1.0``.
"""
import os
import tempfile

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "detectron2")


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--val-images", type=int, default=40)
    parser.add_argument("--calib-images", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch

    from localstyle.config import get_cfg
    from localstyle.data.synthetic import make_synthetic
    from localstyle.evaluation.runtime_table import runtime_table
    from localstyle.utils.cpu_features import cpu_flags, precision_support
    from localstyle.utils.logger import setup_logger

    setup_logger()
    torch.set_num_threads(args.threads)
    flags = sorted(f for f in cpu_flags() or () if f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8"))
    print(f"{args.threads} threads; CPU flags {' '.join(flags)}; int8 {precision_support('int8')}")
    with tempfile.TemporaryDirectory() as root:
        os.environ["LOCALSTYLE_CACHE"] = os.path.join(root, "cache")
        jsons = make_synthetic(root, args.calib_images, args.val_images, 320, seed=123)
        cfg = get_cfg()
        cfg.merge_from_file(os.path.join(FIXTURES, "thin_r50_fpn.yaml"))
        cfg.merge_from_list([
            "MODEL.WEIGHTS", os.path.join(FIXTURES, "thin_r50_fpn.pth"), "DATALOADER.NUM_WORKERS", "0",
            "DATASETS.REGISTER_COCO", repr([["bench_int8_train", jsons["train"], os.path.join(root, "train")],
                                            ["bench_int8_val", jsons["val"], os.path.join(root, "val")]]),
            "DATASETS.TRAIN", "('bench_int8_train',)", "DATASETS.TEST", "('bench_int8_val',)",
            "MODEL.INT8.CALIB_IMAGES", str(args.calib_images)])
        fp32, int8 = runtime_table(cfg, (("openvino", "fp32"), ("openvino", "int8")))
    for row in (fp32, int8):
        print(f"openvino {row.precision}: box AP {row.box_ap:.2f}, mask AP {row.mask_ap:.2f}, "
              f"{row.ms_per_image:.1f} ms/image, {row.file_mb:.1f} MB")
    print(f"result: int8_speedup ratio={fp32.ms_per_image / int8.ms_per_image:.2f} target>=1.6")
    print(f"result: int8_mask_ap_drop value={fp32.mask_ap - int8.mask_ap:.2f} target<=1.0")


if __name__ == "__main__":
    main()
