#!/usr/bin/env python
"""Seconds per image of the Mask R-CNN predictor: torchvision's peer, our plain eager model and every runtime.

    flock -x /tmp/ls-cpu.lock python benchmarks/bench_predictor.py [--sizes 480x640,800x1333] [--depths 50,101]
        [--rounds 3] [--rounds-large 2] [--threads 2] [--no-ap]

Per depth (R50-FPN, R101-FPN; person configs, 1 class) and image size, all in this process, same image:
  (a) torchvision ``maskrcnn_resnet50_fpn`` (``resnet101`` FPN backbone for R101) with the same calibration,
  (b) localstyle's plain eager model as before issue 12 (no folding, ``torch.no_grad``),
  (c) each runtime: ``eager`` (FrozenBN folded, inference mode), ``onnxruntime``, ``openvino``, ``torchscript``,
      and the opt-in bf16 paths: ``eager`` (CPU autocast) and ``openvino`` (bf16 inference precision).
Calibration (random init, seeded): BatchNorm statistics set from this image's activations (O(1) features, as
pretrained weights give), the classifier scaled so foreground scores spread over (0, 1) with >= 100 detections
above the 0.5 score threshold reaching the mask head, and the mask logits spread away from 0 (clear masks), for
both models. Every runtime's outputs are checked against (b) (boxes 1e-3 px, scores 1e-4, mask IoU 0.99).
Also: peak RSS growth per call, fvcore FLOP count (multiply-adds x 2) and the achieved GFLOP/s against the
machine's fp32 peak (nominal, and a measured GEMM) on the same threads. The bf16 paths' AP change is measured on
the synthetic person/ball validation set with detectron2's thin R50-FPN fixture (fp32 vs bf16, same images).
Sizes of 800x1333 pixels or more time ``--rounds-large`` calls (each is seconds long).
Ends with ``result: predictor_speedup ratio=<faster of (a),(b) / localstyle default fp32> target>=1.25``
at 480x640, R50-FPN (the first size and depth run).
"""
import copy
import os
import statistics
import tempfile
import time

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(REPO, "tests", "fixtures", "detectron2", "coco_train2017_000000360452.jpg")
CONFIGS = {50: "configs/person/mask_rcnn_R_50_FPN_1x.yaml", 101: "configs/person/mask_rcnn_R_101_FPN_3x.yaml"}
NUM_DETECTIONS = 100


def rss_mib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024


def timed(fn, rounds):
    """Median seconds of ``fn()`` over ``rounds`` calls after one warm-up, and the peak RSS growth of a call (MiB)."""
    fn()
    base = rss_mib("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM, the peak resident size
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), rss_mib("VmHWM:") - base


def calibrate(*args, **kwargs):
    """Set norm statistics from the image, then the classifier and mask predictor (see the module docstring) so
    that at least ``detections`` instances come out (without autograd)."""
    import torch

    with torch.no_grad():
        return _calibrate(*args, **kwargs)


def _calibrate(model, backbone_run, norm_types, cls_score, mask_predictor, run_detect, fg_rows, count_fn,
               detections=NUM_DETECTIONS):
    import numpy as np
    import torch

    def set_stats(layer, args):
        x = args[0].float()
        layer.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        # a floor for dead channels: 1/sqrt(tiny var) would amplify float noise as no trained BN does
        layer.running_var.copy_(x.var(dim=(0, 2, 3), unbiased=False).clamp(min=1e-2))

    handles = [m.register_forward_pre_hook(set_stats) for m in model.modules() if isinstance(m, norm_types)]
    backbone_run()
    for h in handles:
        h.remove()
    seen = {}
    handles = [layer.register_forward_pre_hook(lambda _m, a, k=key: seen.__setitem__(k, a[0]))
               for key, layer in (("cls", cls_score), ("mask", mask_predictor))]
    run_detect()
    for h in handles:
        h.remove()
    g = torch.Generator().manual_seed(0)
    feats = seen["cls"]
    w = torch.randn(cls_score.weight.shape, generator=g)
    cls_score.weight.copy_(w / (feats @ w.t()).std(dim=0, keepdim=True).t().clamp(min=1e-6) * 1.5)
    cls_score.bias.zero_()
    m = seen["mask"]
    w = torch.randn(mask_predictor.weight.shape, generator=g)
    logits = torch.nn.functional.conv2d(m, w)
    mask_predictor.weight.copy_(w / logits.std() * 4.0)
    mask_predictor.bias.copy_(-logits.mean(dim=(0, 2, 3)) / logits.std() * 4.0)
    for bias in np.arange(0.0, 8.0, 0.25):  # raise the foreground bias until enough detections survive NMS
        cls_score.bias[fg_rows] = float(bias)
        if count_fn() >= detections:
            return float(bias)
    raise RuntimeError(f"calibration found fewer than {detections} detections")


def build_ours(depth, h, w, image, detections=NUM_DETECTIONS):
    """Our calibrated model for ``image`` (BGR, h x w, not resized): ``(cfg, model, inputs)``."""
    import torch

    from localstyle.config import load_config

    from localstyle.modeling import build_model
    from localstyle.modeling.layers import FrozenBatchNorm2d

    cfg = load_config(os.path.join(REPO, CONFIGS[depth]),
                      ["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.5",
                       "INPUT.MIN_SIZE_TEST", str(h), "INPUT.MAX_SIZE_TEST", str(w)])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    inputs = [{"image": torch.as_tensor(image.astype("float32").transpose(2, 0, 1)), "height": h, "width": w}]
    heads = model.roi_heads
    calibrate(model, lambda: model.backbone(model.preprocess_image(inputs)[0]), FrozenBatchNorm2d,
              heads.box_predictor.cls_score, heads.mask_head.predictor, lambda: model(inputs),
              slice(0, heads.num_classes), lambda: len(model(inputs)[0]["instances"]), detections)
    return cfg, model, inputs


def build_torchvision(depth, h, w, image):
    """torchvision's Mask R-CNN with a ResNet-``depth`` FPN, calibrated like ours: ``(model, inputs)``."""
    import torch

    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    from torchvision.ops.misc import FrozenBatchNorm2d

    torch.manual_seed(0)
    backbone = resnet_fpn_backbone(backbone_name=f"resnet{depth}", weights=None, trainable_layers=0)
    model = MaskRCNN(backbone, num_classes=2, min_size=h, max_size=w, box_score_thresh=0.5).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = [torch.as_tensor(image[:, :, ::-1].astype("float32").transpose(2, 0, 1) / 255.0)]
    heads = model.roi_heads
    calibrate(model, lambda: model.backbone(model.transform(x)[0].tensors), (FrozenBatchNorm2d,),
              heads.box_predictor.cls_score, heads.mask_predictor.mask_fcn_logits, lambda: model(x),
              slice(1, None), lambda: len(model(x)[0]["boxes"]))
    return model, x


def peak_gflops(threads):
    """(measured fp32 GEMM GFLOP/s on ``threads`` threads, nominal fp32 peak: threads x clock x 64 FLOP/cycle,
    i.e. two 512-bit FMA units; the clock is /proc/cpuinfo's, turbo can exceed it)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    sec, _ = timed(lambda: torch.mm(a, b), 5)
    with open("/proc/cpuinfo") as f:
        mhz = next((float(line.split(":")[1]) for line in f if line.startswith("cpu MHz")), float("nan"))
    return 2 * 2048 ** 3 / sec / 1e9, threads * mhz * 1e-3 * 64


def count_gflop(model, inputs):
    """fvcore's count (multiply-adds) x 2 of one prediction."""
    from localstyle.utils.model_analysis import count_model

    return 2 * count_model(model, inputs).totals[0] / 1e9


def bench_one(depth, h, w, rounds, folder):
    """All contenders at one depth and size; returns {name: seconds} and prints a table."""
    import cv2
    import torch

    from localstyle.export.exporter import export_predictor
    from localstyle.export.fold import fold_frozen_batchnorm
    from localstyle.export.parity import compare_instances
    from localstyle.export.runtimes import EagerRuntime, OnnxRuntime, OpenVinoRuntime, TorchScriptRuntime
    from localstyle.export.thresholds import Thresholds

    image = cv2.resize(cv2.imread(IMAGE, cv2.IMREAD_COLOR), (w, h), interpolation=cv2.INTER_AREA)
    tv_model, tv_x = build_torchvision(depth, h, w, image)
    cfg, plain, inputs = build_ours(depth, h, w, image)
    folded = copy.deepcopy(plain)
    fold_frozen_batchnorm(folded)
    paths = {fmt: export_predictor(folded, cfg, fmt, os.path.join(folder, f"r{depth}_{h}x{w}"))
             for fmt in ("onnx", "torchscript")}
    bf16_cfg = cfg.clone()
    bf16_cfg.MODEL.PRECISION = "bf16"
    th = Thresholds.from_cfg(cfg)

    def plain_call():
        with torch.no_grad():
            return plain(inputs)

    def tv_call():
        with torch.no_grad():
            return tv_model(tv_x)

    contenders = {"(a) torchvision": tv_call, "(b) plain eager": plain_call,
                  "eager": lambda r=EagerRuntime(cfg, folded): r(inputs),
                  "onnxruntime": lambda r=OnnxRuntime(paths["onnx"], "fp32", th): r(inputs),
                  "openvino": lambda r=OpenVinoRuntime(paths["onnx"], "fp32", th): r(inputs),
                  "torchscript": lambda r=TorchScriptRuntime(paths["torchscript"], "fp32", th): r(inputs),
                  "eager bf16": lambda r=EagerRuntime(bf16_cfg, folded): r(inputs),
                  "openvino bf16": lambda r=OpenVinoRuntime(paths["onnx"], "bf16", th): r(inputs)}
    ref = plain_call()[0]["instances"]
    gflop = count_gflop(plain, inputs)
    print(f"\nR{depth}-FPN {h}x{w}: {len(ref)} detections (torchvision: {len(tv_call()[0]['boxes'])}), "
          f"{gflop:.0f} GFLOP per image (fvcore multiply-adds x 2)")
    print(f"| {'contender':16} | s/image | vs (a) | vs (b) | peak RSS +MiB | GFLOP/s | outputs vs (b) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    results = {}
    for name, fn in contenders.items():
        sec, mem = timed(fn, rounds)
        results[name] = sec
        parity = None if name.startswith("(") else compare_instances(fn()[0]["instances"], ref)
        ok = "" if parity is None or name.endswith("bf16") else (" ok" if parity.within() else " OUTSIDE TOLERANCE")
        print(f"| {name:16} | {sec:7.3f} | {results.get('(a) torchvision', sec) / sec:6.2f} | "
              f"{results.get('(b) plain eager', sec) / sec:6.2f} | {mem:13.0f} | {gflop / sec:7.1f} | "
              f"{parity or ''}{ok} |")
    return results, gflop


BF16_AP_RUNS = [("eager", "fp32"), ("eager", "bf16"), ("openvino", "bf16")]


def bf16_ap_change():
    """Segm/bbox AP of detectron2's thin R50-FPN fixture on a fresh synthetic validation set: ``{(runtime,
    precision): (bbox AP, segm AP)}`` for :data:`BF16_AP_RUNS`."""
    from localstyle.config import get_cfg

    from localstyle.data import register_datasets_from_cfg
    from localstyle.data.build import build_detection_test_loader
    from localstyle.data.synthetic import make_synthetic
    from localstyle.evaluation import COCOEvaluator, inference_on_dataset
    from localstyle.export.runtimes import build_runtime

    fixtures = os.path.join(REPO, "tests", "fixtures", "detectron2")
    out = {}
    with tempfile.TemporaryDirectory() as root:
        jsons = make_synthetic(root, 0, 40, 320, seed=123)
        for runtime, precision in BF16_AP_RUNS:
            cfg = get_cfg()
            cfg.merge_from_file(os.path.join(fixtures, "thin_r50_fpn.yaml"))
            cfg.merge_from_list(["MODEL.WEIGHTS", os.path.join(fixtures, "thin_r50_fpn.pth"), "MODEL.RUNTIME",
                                 runtime, "MODEL.PRECISION", precision, "DATALOADER.NUM_WORKERS", "0",
                                 "DATASETS.REGISTER_COCO", repr([["bench_synth_val", jsons["val"],
                                                                  os.path.join(root, "val")]]),
                                 "DATASETS.TEST", "('bench_synth_val',)"])
            register_datasets_from_cfg(cfg)
            loader = build_detection_test_loader(cfg, "bench_synth_val")
            res = inference_on_dataset(build_runtime(cfg), loader, COCOEvaluator("bench_synth_val", None, False))
            out[runtime, precision] = (res["bbox"]["AP"], res["segm"]["AP"])
    return out


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--sizes", default="480x640,800x1333", help="comma-separated HxW")
    parser.add_argument("--depths", default="50,101", help="comma-separated ResNet depths (50, 101)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rounds-large", type=int, default=2, help="rounds at sizes of 800x1333 pixels or more")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-ap", action="store_true", help="skip the bf16 AP measurement")
    return parser


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch

    from localstyle.config import get_cfg

    torch.set_num_threads(args.threads)
    default_runtime = get_cfg().MODEL.RUNTIME
    gemm, peak = peak_gflops(args.threads)
    print(f"{args.threads} threads; fp32 GEMM (2048^2, torch) {gemm:.0f} GFLOP/s, nominal fp32 peak {peak:.0f} "
          f"GFLOP/s; default runtime {default_runtime}")
    headline = None
    with tempfile.TemporaryDirectory() as folder:
        for depth in [int(d) for d in args.depths.split(",")]:
            for size in args.sizes.split(","):
                h, w = (int(v) for v in size.lower().split("x"))
                rounds = args.rounds_large if h * w >= 800 * 1333 else args.rounds
                res, gflop = bench_one(depth, h, w, rounds, folder)
                best = min(res["(a) torchvision"], res["(b) plain eager"])
                print(f"default ({default_runtime}) {gflop / res[default_runtime]:.0f} GFLOP/s = "
                      f"{gflop / res[default_runtime] / peak:.0%} of the nominal peak; bf16 speed-up over the faster "
                      f"of (a),(b): eager {best / res['eager bf16']:.2f}x, openvino {best / res['openvino bf16']:.2f}x "
                      f"(target >= 1.8)")
                headline = headline or best / res[default_runtime]
    if not args.no_ap:
        ap = bf16_ap_change()
        b32, s32 = ap["eager", "fp32"]
        for runtime in ("eager", "openvino"):
            b16, s16 = ap[runtime, "bf16"]
            print(f"{runtime} bf16 AP change (thin R50-FPN fixture, 40 synthetic val images): bbox {b32:.2f} -> "
                  f"{b16:.2f} ({b16 - b32:+.2f}), segm {s32:.2f} -> {s16:.2f} ({s16 - s32:+.2f})")
    print(f"result: predictor_speedup ratio={headline:.2f} target>=1.25")


if __name__ == "__main__":
    main()
