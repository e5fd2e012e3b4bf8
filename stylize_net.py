#!/usr/bin/env python
"""Style the people (or any COCO class) in a batch of photos, from a config file.

  python stylize_net.py --input assets/photos --output out/people   # the shipped person model, The Starry Night
  python stylize_net.py --config-file configs/stylize/gatys_starry_night_annotations.yaml \\
      --input assets/photos --output out/starry
  python stylize_net.py --config-file configs/stylize/gatys_person_predictor.yaml \\
      --input "photos/*.jpg" --output out/pred MODEL.WEIGHTS model_final.pth STYLE.SIZE 384
  python stylize_net.py --config-file configs/stylize/arbitrary_starry_night.yaml --input photos/ \\
      --output out/mine MASKS.SOURCE predictor MODEL.WEIGHTS output/run/model_final.pth
  python stylize_net.py ... --overwrite        # redo images whose outputs already exist

A trained model's architecture comes from --model-config FILE, else from the config.yaml that train_net.py wrote
next to MODEL.WEIGHTS.

Writes <stem>.png, <stem>_mask.png, <stem>_strip.jpg per image and manifest.json into --output.

Video: a video file or a camera index as --input (or --video with a folder of frames) writes <stem>.mp4,
<stem>_mask.mp4, <stem>_compare.mp4 (original | stylized), <stem>_strip.jpg (key frames) and manifest.json:
  python stylize_net.py --config-file configs/stylize/arbitrary_video.yaml --input clip.mp4 --output out/
  python stylize_net.py --config-file CFG --input 0 --output out/cam VIDEO.MAX_FRAMES 300
A folder or glob --input may hold photos and video files together.

Several processes, as train_net.py (one per GPU; on CPU, N processes sharing the cores), several machines or
torchrun: the inputs are split across the processes, balanced by pixels; each writes manifest.rank<r>.json, merged
into manifest.json at the end; a rerun (with any number of processes) does only what is missing. docs/scaling.md.
  python stylize_net.py --config-file CFG --input photos/ --output out/ --num-gpus 8
  torchrun --nproc_per_node 8 stylize_net.py --config-file CFG --input photos/ --output out/
"""
import logging
import os
import time

from localstyle.config.model_config import stylize_config
from localstyle.utils.cli import add_config_opts, add_launch_opts, argument_parser, launched_by_torchrun
from localstyle.utils.errors import LocalstyleError, cli_errors

DEFAULT_CONFIG = os.path.join("configs", "stylize", "person_default.yaml")


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--config-file", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configs/stylize/<name>.yaml (default: {DEFAULT_CONFIG}: the shipped person model)")
    p.add_argument("--model-config", metavar="FILE",
                   help="the config MODEL.WEIGHTS was trained with (default: config.yaml next to the weights)")
    p.add_argument("--input", required=True,
                   help="an image file, a folder of images and videos, a glob pattern, a video file or a camera index")
    p.add_argument("--video", action="store_true", help="treat a folder --input as the frames of one clip")
    p.add_argument("--output", required=True, metavar="DIR", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="redo images whose outputs are already complete")
    add_launch_opts(p)
    add_config_opts(p)
    return p


def list_work(args):
    """``(photos, clips)`` of ``--input``: one clip (video file, camera, ``--video`` frame folder), or the photos and
    video files of a folder, glob or file."""
    from localstyle.stylize import list_inputs
    from localstyle.utils.image_io import IMAGE_EXTENSIONS
    from localstyle.video import VIDEO_EXTENSIONS, is_video_input

    if args.video or (is_video_input(args.input) and not any(c in args.input for c in "*?[")):
        return [], [args.input]
    paths = list_inputs(args.input, IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    clips = [p for p in paths if p.lower().endswith(VIDEO_EXTENSIONS)]
    return [p for p in paths if p not in set(clips)], clips


def split_work(args, cfg, run, runner, photos, readers, world_size, rank):
    """``(photos, clips, skipped, duplicates, complete clip stems)``: this rank's share of what is not complete yet
    (every rank computes the same split: same files, same manifest); the readers of other ranks' clips are closed."""
    from localstyle.stylize.outputs import Manifest
    from localstyle.stylize.shard import image_pixels, shard
    from localstyle.video.runner import clip_is_complete
    from localstyle.video.writer import choose_codec

    todo, skipped, duplicates = runner.select(photos, report=False) if runner else ([], 0, [])
    manifest = run.manifest or Manifest(args.output)
    codec = choose_codec(cfg.VIDEO.CODEC) if readers else None  # once: its fallback warns
    complete = {r.info.stem for r in readers if clip_is_complete(cfg, args.output, r.info, manifest, codec)[0]}
    clips = [r for r in readers if args.overwrite or r.info.stem not in complete]
    keys = todo + [r.info.source for r in clips]
    costs = [image_pixels(p) for p in todo] + [r.info.width * r.info.height * (r.info.num_frames or 1) for r in clips]
    mine = set(keys if world_size == 1 else shard(keys, costs, world_size, rank))
    for reader in readers:
        if reader.info.source not in mine:
            reader.close()
    skipped += len(readers) - len(clips)
    return [p for p in todo if p in mine], [r for r in clips if r.info.source in mine], skipped, duplicates, complete


def stylize(args, cfg, rank=0, world_size=1, barrier=None):
    """Stylize this process's share of the inputs (all of them in a one-process run); returns the exit status."""
    from localstyle.data import register_datasets_from_cfg
    from localstyle.stylize import StylizeRunner
    from localstyle.stylize.distributed import RankRun
    from localstyle.video import VideoRunner, open_video

    register_datasets_from_cfg(cfg)
    with RankRun(args.output, rank, world_size, barrier, cfg.STYLIZE.HEARTBEAT_TIMEOUT) as run:
        photos, clips = list_work(args)
        if world_size > 1 and any(c.isdigit() for c in clips):
            raise LocalstyleError(f"--input {args.input}: a camera is filmed by one process; drop --num-gpus")
        readers = [open_video(c, cfg.VIDEO.FPS) for c in clips]  # a bad clip fails before any model is built
        runner = StylizeRunner(cfg, args.output, args.overwrite, manifest=run.manifest) if photos else None
        mine, my_clips, skipped, duplicates, complete = split_work(args, cfg, run, runner, photos, readers,
                                                                   world_size, rank)
        summary = {"done": 0, "skipped": skipped, "failed": len(duplicates) if rank == 0 and world_size > 1 else 0,
                   "started": time.time()}
        if runner is not None:  # one process: all photos, so that the runner reports the skipped ones as before
            own = runner.run(photos if world_size == 1 else mine, on_batch=run.on_input)
            summary.update(done=own["done"], failed=summary["failed"] + own["failed"])
        video_runner = None
        for reader in my_clips:
            run.on_input([reader.info.source])
            video_runner = video_runner or VideoRunner(cfg, args.output, args.overwrite, manifest=run.manifest)
            video_runner.run(reader)
            summary["done"] += 1
        run.summary = {**summary, "finished": time.time()}  # in this rank's status file (bench_scale.py reads it)
    if rank == 0:
        report(args, world_size, run.totals, summary["skipped"], duplicates, complete)
    return 1 if summary["failed"] and not summary["done"] else 0


def report(args, world_size, totals, skipped, duplicates, complete):
    """Rank 0's closing lines: the totals of all ranks, the inputs left out, the clips already complete."""
    if totals:
        done, failed = (sum(t.get(k, 0) for t in totals) for k in ("done", "failed"))
        print(f"stylize: {world_size} processes: {done} done, {skipped} skipped (already complete), {failed} failed; "
              f"outputs in {args.output}")
    for path in duplicates if world_size > 1 else ():  # one process: the runner reported them
        print(f"failed: {path}: an earlier input has the same output name; skipped")
    for stem in sorted(complete):
        print(f"stylize: {stem} already complete in {args.output} (use --overwrite to redo it)")


def stylize_process(args):
    """One process of a run over several (``launch``'s main function): its rank's share."""
    import torch

    from localstyle.utils import comm

    cfg = stylize_config(args.config_file, args.opts, args.model_config)
    if cfg.MODEL.DEVICE == "cuda" and torch.cuda.is_available():  # this process's GPU, for onnxruntime too
        cfg.MODEL.DEVICE = f"cuda:{comm.get_local_rank()}"
    return stylize(args, cfg, comm.get_rank(), comm.get_world_size(), comm.synchronize)


@cli_errors
def main(argv=None):
    """Parse the command line, load the config, run the photo and video runners in one or several processes."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = stylize_config(args.config_file, args.opts, args.model_config)  # errors once, before any process starts
    if args.num_gpus * args.num_machines <= 1 and args.dist_url == "auto" and not launched_by_torchrun():
        return stylize(args, cfg)  # one process: no torch.distributed (the ONNX fast path never imports torch)
    from torch.multiprocessing.spawn import ProcessException

    from localstyle.engine.launch import launch
    from localstyle.stylize.distributed import lost_rank_message

    os.makedirs(args.output, exist_ok=True)
    logging.getLogger("torch.multiprocessing.spawn").setLevel(logging.ERROR)  # our one line says which rank stopped
    try:
        launch(stylize_process, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
    except ProcessException as e:  # a rank exited: it recorded why in its status file
        rank = args.machine_rank * args.num_gpus + e.error_index
        raised = "" if hasattr(e, "exit_code") else str(e).strip().splitlines()[-1]  # an exception's last line
        raise LocalstyleError(lost_rank_message(args.output, rank, getattr(e, "exit_code", 1),
                                                getattr(e, "signal_name", None), raised)) from None
    except KeyboardInterrupt:
        print("stylize: interrupted; finished images are kept, rerun the same command to do the rest")
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
