#!/usr/bin/env python
"""One prepared device check of localstyle's CUDA paths: one PASS/FAIL/SKIP line per check, then a summary.

    python benchmarks/gpu_check.py [--workdir DIR] [--only NAME ...] [--time-limit 420] [--train-iters 40]

Checks (in this order; later ones reuse what earlier ones trained):
  train_R50_fp32, train_R50_amp, train_R101_fp32, train_R101_amp
      train_net.py on CUDA, full-width person configs, synthetic people at 800 px short side, batch 4:
      finite losses, s/iter, images/s, peak GPU memory (metrics.json ``max_mem``)
  resume_exact        the R50 AMP run killed (SIGKILL) after its first checkpoint and resumed with --resume ends
                      with the same weights as the uninterrupted run (bit-identical, or the largest difference)
  ddp_nccl_num_gpus   train_net.py --num-gpus 1 --dist-url tcp://...: spawns a worker that joins an NCCL group
  ddp_nccl_torchrun   torchrun --nproc_per_node 1 train_net.py: NCCL from the environment
  ddp_gloo_2proc      two CPU processes over gloo on this machine's cores (CUDA hidden)
  eval_cuda_vs_cpu    the tiny synthetic config trained on CUDA, then --eval-only on CUDA and on the CPU: AP within 0.1
  eval_features       precise BN, validation loss, best checkpoint in a 20-iteration tiny run; --eval-only with
                      TEST.AUG (inference_TTA); tools/benchmark.py --task eval; tools/analyze_model.py --tasks flop
  predictor_cuda_vs_cpu  DefaultPredictor on detectron2's parity fixture, CUDA vs CPU: same detections
  predictor_speed     DefaultPredictor ms/image at 800x1333 (R50/R101, up to 100 detections) beside detectron2's V100
  feedforward_train_amp  train_style_net.py with FEEDFORWARD.AMP on CUDA, exported to ONNX
  stylize_arbitrary, stylize_gatys, stylize_feedforward   stylize_net.py on CUDA: outputs written, images/s
  onnxruntime_cuda    onnxruntime's CUDA provider (onnxruntime-gpu), or a SKIP saying why

Without CUDA every check prints ``SKIP: no CUDA`` (this is how `make gpu-check` and the tests run it on a CPU).
The GPU machine has its own Python and PyTorch and no package index: `benchmarks/gpu_wheelhouse.sh` prepares the
wheels of the missing dependencies and prints the device command.
"""
import glob
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from localstyle.utils.cli import argument_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PERSON_CFG = {50: "configs/person/mask_rcnn_R_50_FPN_1x.yaml", 101: "configs/person/mask_rcnn_R_101_FPN_3x.yaml"}
TINY_CFG = "configs/tiny/mask_rcnn_R_50_FPN_synthetic.yaml"
STYLE_CFG = "configs/stylize/arbitrary_starry_night.yaml"
PHOTOS = "assets/photos/coco_train2017_*.jpg"
D2_V100_MS = {50: 43, 101: 56}  # detectron2 MODEL_ZOO.md, Mask R-CNN R50/R101-FPN 3x inference on a V100
CHECKS = []


@dataclass
class Result:
    status: str  # PASS, FAIL or SKIP
    detail: str


@dataclass
class Context:
    """Shared state of one run: where things go, and what earlier checks produced."""

    workdir: str
    train_iters: int
    device: str  # "cuda"; "cpu" only to develop this script without a GPU
    tiny_iters: int = 160
    ff_iters: int = 40
    products: dict = field(default_factory=dict)  # name -> path (trained weights, ...)

    def out(self, name):
        return os.path.join(self.workdir, name)


def check(fn):
    """Register a check (run in registration order)."""
    CHECKS.append(fn)
    return fn


def run(cmd, timeout=300, env=None):
    """Run ``cmd`` (a list) in the repository root; returns (returncode, combined output, seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, time.perf_counter() - t0


def last_lines(text, n=3):
    return " | ".join(line.strip() for line in text.strip().splitlines()[-n:])


def read_metrics_all(output_dir):
    """metrics.json records (one JSON object per line); none when the run wrote no metrics.json."""
    from localstyle.engine.hooks import read_metrics as read_metrics_file

    path = os.path.join(output_dir, "metrics.json")
    return read_metrics_file(path) if os.path.isfile(path) else []


def read_metrics(output_dir):
    """metrics.json records with a ``total_loss``."""
    return [r for r in read_metrics_all(output_dir) if "total_loss" in r]


def synthetic_root(ctx, size):
    """A datasets root holding the synthetic people at ``size`` px (made once)."""
    root = ctx.out(f"datasets_{size}")
    if not os.path.isdir(os.path.join(root, "synthetic")):
        from localstyle.data.synthetic import make_synthetic

        make_synthetic(os.path.join(root, "synthetic"), num_train=16, num_val=8, size=size, seed=0)
    return root


def class_opts():
    """Train on both synthetic classes, whatever the person configs select."""
    from localstyle.config import get_cfg

    opts = ["MODEL.ROI_HEADS.NUM_CLASSES", "2"]
    if "CLASSES" in get_cfg().DATASETS:
        opts += ["DATASETS.CLASSES", "[]"]
    return opts


def person_train_cmd(ctx, depth, amp, output_dir, iters):
    """train_net.py on a full-width person config, synthetic data at 800 px, random init with trainable BN."""
    return [sys.executable, "train_net.py", "--config-file", PERSON_CFG[depth],
            "MODEL.WEIGHTS", "", "MODEL.DEVICE", ctx.device, "MODEL.RESNETS.NORM", "BN",
            "MODEL.BACKBONE.FREEZE_AT", "0",
            *class_opts(), "DATASETS.TRAIN", "('synthetic_train',)", "DATASETS.TEST", "()",
            "INPUT.MIN_SIZE_TRAIN", "(800,)", "INPUT.MAX_SIZE_TRAIN", "1333", "DATALOADER.NUM_WORKERS", "4",
            "SOLVER.IMS_PER_BATCH", "4", "SOLVER.BASE_LR", "0.01", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "5",
            "SOLVER.MAX_ITER", str(iters), "SOLVER.CHECKPOINT_PERIOD", str(max(1, iters // 4)),
            "SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "norm",
            "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "5.0", "SOLVER.AMP.ENABLED", str(amp), "TEST.EVAL_PERIOD", "0",
            "SEED", "0", "OUTPUT_DIR", output_dir]


def make_train_check(depth, amp):
    def train_check(ctx):
        out = ctx.out(f"train_R{depth}_{'amp' if amp else 'fp32'}")
        env = {"LOCALSTYLE_DATASETS": synthetic_root(ctx, 800)}
        rc, log, secs = run(person_train_cmd(ctx, depth, amp, out, ctx.train_iters), env=env)
        records = read_metrics(out)
        if rc != 0 or not records:
            return Result("FAIL", f"exit {rc}: {last_lines(log)}")
        last = records[-1]
        if not all(math.isfinite(v) for k, v in last.items() if "loss" in k):
            return Result("FAIL", f"non-finite losses {last}")
        ctx.products[f"R{depth}_{'amp' if amp else 'fp32'}"] = out
        s_iter = last["time"]
        mem = f"{last['max_mem'] / 1024:.1f} GiB" if "max_mem" in last else "n/a"
        return Result("PASS", f"{ctx.train_iters} iters, total_loss {last['total_loss']:.3f}, {s_iter:.3f} s/iter, "
                              f"{4 / s_iter:.1f} images/s, peak GPU memory {mem}, wall {secs:.0f} s")
    train_check.__name__ = f"train_R{depth}_{'amp' if amp else 'fp32'}"
    return train_check


for _depth in (50, 101):
    for _amp in (False, True):
        check(make_train_check(_depth, _amp))


def load_weights(path):
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("model", state)


@check
def resume_exact(ctx):
    """Kill the R50 AMP run after its first checkpoint, resume, compare with the uninterrupted run."""
    ref = ctx.products.get("R50_amp")
    if ref is None:
        return Result("SKIP", "needs train_R50_amp")
    out = ctx.out("resume_R50_amp")
    env = {**os.environ, "LOCALSTYLE_DATASETS": synthetic_root(ctx, 800)}
    cmd = person_train_cmd(ctx, 50, True, out, ctx.train_iters)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = os.path.join(out, "last_checkpoint")
    while proc.poll() is None and not os.path.isfile(marker):
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    with open(marker, encoding="utf-8") as f:
        resumed_from = f.read().strip()
    rc, log, _ = run(cmd[:2] + ["--resume"] + cmd[2:], env={"LOCALSTYLE_DATASETS": env["LOCALSTYLE_DATASETS"]})
    if rc != 0:
        return Result("FAIL", f"resume exit {rc}: {last_lines(log)}")
    a, b = load_weights(os.path.join(ref, "model_final.pth")), load_weights(os.path.join(out, "model_final.pth"))
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())
    scale = max(float(a[k].float().abs().max()) for k in a if a[k].is_floating_point())
    how = f"killed after {resumed_from}" if killed else "finished before the kill (no interruption)"
    if diff == 0:
        return Result("PASS", f"{how}; resumed weights bit-identical to the uninterrupted run")
    status = "PASS" if diff <= 1e-3 * scale else "FAIL"
    return Result(status, f"{how}; max |weight difference| {diff:.3g} (largest weight {scale:.3g}; CUDA atomics "
                          "in roi_align/index_add backward are not deterministic)")


def tiny_train_cmd(output_dir, iters, device):
    return [sys.executable, "train_net.py", "--config-file", TINY_CFG, "MODEL.DEVICE", device,
            "SOLVER.MAX_ITER", str(iters), "SOLVER.CHECKPOINT_PERIOD", str(iters), "DATASETS.TEST", "()",
            "OUTPUT_DIR", output_dir]


def nccl_check(ctx, name, launcher):
    if ctx.device != "cuda":
        return Result("SKIP", "NCCL needs CUDA")
    out = ctx.out(name)
    env = {"LOCALSTYLE_DATASETS": synthetic_root(ctx, 192)}
    rc, log, secs = run(launcher + tiny_train_cmd(out, 20, "cuda")[1:], env=env)
    if rc != 0:
        return Result("FAIL", f"exit {rc}: {last_lines(log)}")
    if "backend=nccl" not in log:
        return Result("FAIL", "trained, but no NCCL process group was logged")
    return Result("PASS", f"NCCL process group initialized, 20 iterations trained, wall {secs:.0f} s")


@check
def ddp_nccl_num_gpus(ctx):
    from localstyle.engine.launch import find_free_port

    return nccl_check(ctx, "ddp_nccl_num_gpus", [sys.executable, "train_net.py", "--num-gpus", "1", "--dist-url",
                                                 f"tcp://127.0.0.1:{find_free_port()}"])


@check
def ddp_nccl_torchrun(ctx):
    return nccl_check(ctx, "ddp_nccl_torchrun", [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                 "--nproc_per_node", "1", "train_net.py"])


@check
def ddp_gloo_2proc(ctx):
    out = ctx.out("ddp_gloo_2proc")
    cmd = tiny_train_cmd(out, 10, device="cpu")
    rc, log, secs = run(cmd[:2] + ["--num-gpus", "2"] + cmd[2:], env={
        "LOCALSTYLE_DATASETS": synthetic_root(ctx, 192), "CUDA_VISIBLE_DEVICES": ""})
    if rc != 0 or "backend=gloo" not in log:
        return Result("FAIL", f"exit {rc}: {last_lines(log)}")
    return Result("PASS", f"2 CPU processes over gloo, 10 iterations, wall {secs:.0f} s")


def read_ap(output_dir, folder="inference"):
    """{"bbox": AP, "segm": AP} from the newest ``folder`` results.json below ``output_dir``."""
    files = sorted(glob.glob(os.path.join(output_dir, folder, "**", "results.json"), recursive=True),
                   key=os.path.getmtime)
    with open(files[-1], encoding="utf-8") as f:
        results = json.load(f)
    return {task: results[task]["AP"] for task in ("bbox", "segm") if task in results}


@check
def eval_cuda_vs_cpu(ctx):
    out = ctx.out("tiny_cuda")
    env = {"LOCALSTYLE_DATASETS": synthetic_root(ctx, 192)}
    rc, log, secs = run(tiny_train_cmd(out, ctx.tiny_iters, ctx.device), env=env)
    if rc != 0:
        return Result("FAIL", f"training exit {rc}: {last_lines(log)}")
    weights = os.path.join(out, "model_final.pth")
    ap = {}
    for device in (ctx.device, "cpu"):
        eval_dir = ctx.out(f"tiny_eval_{device}")
        rc, log, _ = run([sys.executable, "train_net.py", "--config-file", TINY_CFG, "--eval-only",
                          "MODEL.WEIGHTS", weights, "MODEL.DEVICE", device, "OUTPUT_DIR", eval_dir], env=env)
        if rc != 0:
            return Result("FAIL", f"--eval-only on {device} exit {rc}: {last_lines(log)}")
        ap[device] = read_ap(eval_dir)
    gpu = ap[ctx.device]
    diff = max(abs(gpu[t] - ap["cpu"][t]) for t in gpu)
    figures = ", ".join(f"{t} AP {gpu[t]:.2f} (CPU {ap['cpu'][t]:.2f})" for t in gpu)
    status = "PASS" if diff <= 0.1 else "FAIL"
    return Result(status, f"{figures}; max difference {diff:.3f} AP (trained in {secs:.0f} s)")


@check
def eval_features(ctx):
    """TEST.PRECISE_BN, TEST.VAL_LOSS, SOLVER.BEST_CHECKPOINT in a short tiny run, then --eval-only with TEST.AUG,
    tools/benchmark.py --task eval and tools/analyze_model.py --tasks flop, all on the device."""
    out, env = ctx.out("eval_features"), {"LOCALSTYLE_DATASETS": synthetic_root(ctx, 192)}
    cmd = tiny_train_cmd(out, 20, ctx.device)
    cmd[cmd.index("DATASETS.TEST") + 1] = "('synthetic_val',)"
    rc, log, _ = run(cmd + ["TEST.EVAL_PERIOD", "10", "TEST.PRECISE_BN.ENABLED", "True", "TEST.PRECISE_BN.NUM_ITER",
                            "5", "TEST.VAL_LOSS", "True", "SOLVER.BEST_CHECKPOINT.ENABLED", "True",
                            "SOLVER.BEST_CHECKPOINT.METRIC", "val_total_loss", "SOLVER.BEST_CHECKPOINT.MODE", "min"],
                     env=env)
    val = [r for r in read_metrics_all(out) if "val_total_loss" in r]
    if rc != 0 or len(val) != 2 or not os.path.isfile(os.path.join(out, "model_best.pth")):
        return Result("FAIL", f"training exit {rc}, {len(val)} val_total_loss lines: {last_lines(log)}")
    weights = ["MODEL.WEIGHTS", os.path.join(out, "model_final.pth"), "MODEL.DEVICE", ctx.device]
    rc, log, tta_s = run([sys.executable, "train_net.py", "--config-file", TINY_CFG, "--eval-only", *weights,
                          "TEST.AUG.ENABLED", "True", "TEST.AUG.MIN_SIZES", "(160, 192, 224)",
                          "OUTPUT_DIR", ctx.out("eval_features_tta")], env=env)
    if rc != 0:
        return Result("FAIL", f"--eval-only with TEST.AUG exit {rc}: {last_lines(log)}")
    ap = {name: ", ".join(f"{t} {v:.1f}" for t, v in read_ap(ctx.out("eval_features_tta"), name).items())
          for name in ("inference", "inference_TTA")}
    rc, bench, _ = run([sys.executable, "tools/benchmark.py", "--config-file", TINY_CFG, "--task", "eval",
                        "--iters", "50", *weights], env=env)
    rc2, flops, _ = run([sys.executable, "tools/analyze_model.py", "--config-file", TINY_CFG, "--tasks", "flop",
                         "-n", "2", *weights], env=env)
    if rc or rc2:
        return Result("FAIL", f"tools exit {rc}/{rc2}: {last_lines(bench + flops)}")
    total = next(line for line in flops.splitlines() if line.startswith("Total GFlops"))
    return Result("PASS", f"val_total_loss {val[-1]['val_total_loss']:.3f}; AP {ap['inference']}, with TTA "
                          f"{ap['inference_TTA']} ({tta_s:.0f} s); {last_lines(bench, 1)}; {total}")


def fixture_predictor(device):
    from localstyle.config import get_cfg
    from localstyle.engine.predictor import DefaultPredictor

    fixtures = os.path.join(ROOT, "tests", "fixtures", "detectron2")
    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(fixtures, "thin_r50_fpn.yaml"))
    cfg.MODEL.WEIGHTS = os.path.join(fixtures, "thin_r50_fpn.pth")
    cfg.MODEL.DEVICE = device
    return DefaultPredictor(cfg), sorted(glob.glob(os.path.join(fixtures, "*.jpg")) +
                                         glob.glob(os.path.join(fixtures, "*.png")))


def compare_instances(a, b):
    """(max box error px, max score error, min mask IoU) of two predictions with the same instances."""
    import numpy as np

    boxes = float(np.abs(a.pred_boxes.tensor.cpu().numpy() - b.pred_boxes.tensor.cpu().numpy()).max(initial=0))
    scores = float(np.abs(a.scores.cpu().numpy() - b.scores.cpu().numpy()).max(initial=0))
    ma, mb = a.pred_masks.cpu().numpy().astype(bool), b.pred_masks.cpu().numpy().astype(bool)
    inter = (ma & mb).reshape(len(ma), -1).sum(1)
    union = (ma | mb).reshape(len(ma), -1).sum(1)
    iou = float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).min(initial=1.0))
    return boxes, scores, iou


@check
def predictor_cuda_vs_cpu(ctx):
    import cv2

    (gpu, images), (cpu, _) = fixture_predictor(ctx.device), fixture_predictor("cpu")
    worst = [0.0, 0.0, 1.0]
    for path in images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        a, b = gpu(image)["instances"], cpu(image)["instances"]
        if len(a) != len(b) or a.pred_classes.cpu().tolist() != b.pred_classes.cpu().tolist():
            return Result("FAIL", f"{os.path.basename(path)}: {len(a)} instances on CUDA, {len(b)} on CPU")
        box, score, iou = compare_instances(a, b)
        worst = [max(worst[0], box), max(worst[1], score), min(worst[2], iou)]
    ok = worst[0] <= 0.1 and worst[1] <= 1e-3 and worst[2] >= 0.95
    return Result("PASS" if ok else "FAIL", f"{len(images)} fixture images: same instances and classes; max box "
                  f"error {worst[0]:.2g} px, max score error {worst[1]:.2g}, min mask IoU {worst[2]:.3f}")


def time_predictor(depth, weights_dir, device, iters=20):
    import cv2
    import torch

    from localstyle.config import load_config
    from localstyle.engine.predictor import DefaultPredictor

    cfg = load_config(os.path.join(ROOT, PERSON_CFG[depth]), [
        "MODEL.WEIGHTS", os.path.join(weights_dir, "model_final.pth"), "MODEL.DEVICE", device,
        "MODEL.RESNETS.NORM", "BN", *class_opts(), "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])
    predictor = DefaultPredictor(cfg)
    image = cv2.resize(cv2.imread(sorted(glob.glob(os.path.join(ROOT, PHOTOS)))[0]), (1333, 800))
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(5):
        predictor(image)
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        n = len(predictor(image)["instances"])
    sync()
    return (time.perf_counter() - t0) / iters * 1000, n


@check
def predictor_speed(ctx):
    figures = []
    for depth in (50, 101):
        weights = ctx.products.get(f"R{depth}_fp32")
        if weights is None:
            return Result("SKIP", f"needs train_R{depth}_fp32")
        ms, n = time_predictor(depth, weights, ctx.device)
        figures.append(f"R{depth}-FPN {ms:.1f} ms/image ({n} detections; detectron2 on a V100: {D2_V100_MS[depth]} ms)")
    return Result("PASS", "800x1333: " + "; ".join(figures))


@check
def feedforward_train_amp(ctx):
    out = ctx.out("feedforward")
    rc, log, secs = run([sys.executable, "train_style_net.py", "--config-file",
                         "configs/stylize/feedforward_starry_night.yaml", "--images", "assets/photos", "--output", out,
                         "--export-onnx", "MODEL.DEVICE", ctx.device, "FEEDFORWARD.AMP", "True",
                         "FEEDFORWARD.MAX_ITER", str(ctx.ff_iters), "FEEDFORWARD.CHECKPOINT_PERIOD", "20"])
    onnx_file = os.path.join(out, "model_final.onnx")
    if rc != 0 or not os.path.isfile(onnx_file):
        return Result("FAIL", f"exit {rc}: {last_lines(log)}")
    ctx.products["feedforward"] = onnx_file
    return Result("PASS", f"{ctx.ff_iters} iterations with AMP, exported to ONNX, wall {secs:.0f} s")


def stylize_check(ctx, method, opts):
    out = ctx.out(f"stylize_{method}")
    photos = sorted(glob.glob(os.path.join(ROOT, PHOTOS)))
    rc, log, secs = run([sys.executable, "stylize_net.py", "--config-file", STYLE_CFG, "--input", PHOTOS,
                         "--output", out, "MODEL.DEVICE", ctx.device, "STYLE.METHOD", method, *opts])
    stems = [os.path.splitext(os.path.basename(p))[0] for p in photos]
    written = [s for s in stems if os.path.isfile(os.path.join(out, s + ".png"))]
    if rc != 0 or len(written) != len(photos):
        return Result("FAIL", f"exit {rc}, {len(written)}/{len(photos)} outputs: {last_lines(log)}")
    return Result("PASS", f"{len(photos)} photos, {len(photos) / secs:.2f} images/s including start-up ({secs:.1f} s)")


@check
def stylize_arbitrary(ctx):
    return stylize_check(ctx, "arbitrary", [])


@check
def stylize_gatys(ctx):
    return stylize_check(ctx, "gatys", ["STYLE.GATYS.STEPS", "20", "STYLE.SIZE", "384"])


@check
def stylize_feedforward(ctx):
    weights = ctx.products.get("feedforward")
    if weights is None:
        return Result("SKIP", "needs feedforward_train_amp")
    return stylize_check(ctx, "feedforward", ["STYLE.WEIGHTS", weights, "STYLE.SIZE", "512"])


@check
def onnxruntime_cuda(ctx):
    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        return Result("SKIP", f"onnxruntime {onnxruntime.__version__} has no CUDA provider ({', '.join(providers)}); "
                              "onnxruntime-gpu's cp312 wheel (~256 MB) is over the device tool's 64 MiB carry limit")
    return stylize_check(ctx, "arbitrary", ["STYLIZE.NUM_WORKERS", "0"])


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--workdir", default=os.path.join(ROOT, "output", "gpu_check"), help="scratch and output folder")
    p.add_argument("--only", nargs="*", metavar="NAME", help="run only these checks")
    p.add_argument("--time-limit", type=float, default=420, help="skip the remaining checks after this many seconds")
    p.add_argument("--train-iters", type=int, default=40, help="iterations of each full-size training check")
    p.add_argument("--tiny-iters", type=int, default=160, help="iterations of the tiny model evaluated on both devices")
    p.add_argument("--ff-iters", type=int, default=40, help="iterations of the feed-forward style network")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                   help="cpu: run the checks on the CPU, only to develop this script on a machine without a GPU")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    import torch

    ctx = Context(os.path.abspath(args.workdir), args.train_iters, args.device, args.tiny_iters, args.ff_iters)
    os.makedirs(ctx.workdir, exist_ok=True)
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
    print(f"gpu_check: torch {torch.__version__}, {device}, workdir {ctx.workdir}", flush=True)
    counts, start = {"PASS": 0, "FAIL": 0, "SKIP": 0}, time.perf_counter()
    for fn in CHECKS:
        name = fn.__name__
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        if args.device == "cuda" and not cuda:
            result = Result("SKIP", "no CUDA")
        elif t0 - start > args.time_limit:
            result = Result("SKIP", f"time limit of {args.time_limit:.0f} s reached")
        else:
            try:
                result = fn(ctx)
            except Exception as e:  # a check that breaks is a FAIL line, and the others still run
                result = Result("FAIL", f"{type(e).__name__}: {e}")
        counts[result.status] += 1
        took = f"[{time.perf_counter() - t0:.0f} s]"
        if result.status == "SKIP":
            print(f"SKIP: {result.detail} ({name})", flush=True)
        else:
            print(f"{result.status} {name}: {result.detail} {took}", flush=True)
    print(f"gpu_check summary: PASS {counts['PASS']}, FAIL {counts['FAIL']}, SKIP {counts['SKIP']} "
          f"in {time.perf_counter() - start:.0f} s", flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
