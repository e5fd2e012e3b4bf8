#!/usr/bin/env python
"""Run train_net.py or stylize_net.py (everything after --) on SLURM, or locally, through submitit.

  python tools/submit.py --cluster slurm --nodes 2 --gpus-per-node 8 --partition gpu --timeout 720 \\
      --job-dir jobs/person -- train_net.py --config-file configs/person/mask_rcnn_R_50_FPN_1x.yaml
  python tools/submit.py --cluster slurm --nodes 4 --gpus-per-node 8 --partition gpu --timeout 240 \\
      --slurm constraint=volta32gb --slurm exclusive=1 --job-dir jobs/styl \\
      -- stylize_net.py --config-file CFG --input photos/ --output out/
  python tools/submit.py --cluster local --tasks-per-node 2 --timeout 10 --job-dir jobs/local \\
      -- stylize_net.py --config-file CFG --input photos/ --output out/

One task per GPU (or --tasks-per-node CPU processes); each task gets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT from submitit's job environment and runs the command as under torchrun (its --num-gpus flags are not
needed). On timeout or preemption the job is requeued: train_net.py continues with --resume, stylize_net.py skips
what its manifest lists. Logs: <job-dir>/<job id>/. docs/scaling.md.
"""
import sys

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors


def build_parser():
    """The submission flags (the command after ``--`` is split off by :func:`parse_args`)."""
    p = argument_parser(__doc__)
    p.add_argument("--cluster", choices=("slurm", "local"), default="slurm",
                   help="slurm, or local (this machine, through submitit's local executor: tests, CI)")
    p.add_argument("--nodes", type=int, default=1, help="machines")
    p.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per machine (one task each)")
    p.add_argument("--tasks-per-node", type=int, default=0,
                   help="processes per machine (default: --gpus-per-node, or 1 without GPUs)")
    p.add_argument("--partition", default=None, help="SLURM partition")
    p.add_argument("--timeout", type=int, default=60, metavar="MINUTES", help="time limit of one submission")
    p.add_argument("--job-dir", required=True, metavar="DIR", help="submitit's folder: logs, pickled job, results")
    p.add_argument("--mem", type=float, default=None, metavar="GB", help="memory per node, in GB")
    p.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per task")
    p.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                   help="an extra sbatch option, e.g. --slurm constraint=volta32gb --slurm qos=high (repeatable)")
    p.add_argument("--name", default="localstyle", help="job name")
    p.add_argument("--wait", action="store_true", help="wait for the job and exit with its status (--cluster local "
                                                      "always waits)")
    return p


def parse_args(argv=None):
    """``(args, command)``: the submission flags, and the train_net.py / stylize_net.py command after ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    return build_parser().parse_args(argv[:split]), argv[split + 1:]


def slurm_options(pairs):
    """``["key=value", ...]`` -> ``{key: value}`` for submitit's ``slurm_additional_parameters``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LocalstyleError(f"--slurm {pair}: expected KEY=VALUE (an sbatch option without its leading --)")
        out[key.strip().replace("-", "_")] = value
    return out


def build_executor(args):
    """A submitit executor with the job's resources."""
    import submitit

    if args.cluster == "local" and args.nodes != 1:
        raise LocalstyleError(f"--cluster local runs on this machine only; got --nodes {args.nodes}")
    executor = submitit.AutoExecutor(folder=f"{args.job_dir}/%j", cluster=args.cluster)
    params = {"name": args.name, "timeout_min": args.timeout, "nodes": args.nodes,
              "gpus_per_node": args.gpus_per_node, "tasks_per_node": args.tasks_per_node or max(1, args.gpus_per_node),
              "cpus_per_task": args.cpus_per_task, "mem_gb": args.mem}
    if args.cluster == "slurm":
        params.update(slurm_partition=args.partition, slurm_additional_parameters=slurm_options(args.slurm),
                      slurm_signal_delay_s=120)  # time for the requeue before SLURM kills the job
    executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return executor


@cli_errors
def main(argv=None):
    args, command = parse_args(argv)
    slurm_options(args.slurm)  # bad options fail before anything is submitted
    from localstyle.utils.submission import ScriptJob, check_command

    job = build_executor(args).submit(ScriptJob(check_command(command)))
    print(f"submitted job {job.job_id} ({args.cluster}): {' '.join(command)}; logs in {args.job_dir}/{job.job_id}/")
    if not (args.wait or args.cluster == "local"):
        return 0
    try:
        job.results()
    except Exception as e:  # submitit re-raises the task's failure with its whole log
        raise LocalstyleError(f"job {job.job_id} failed; see {job.paths.stderr} ({str(e).strip().splitlines()[-1]})")
    print(f"job {job.job_id} finished; logs in {args.job_dir}/{job.job_id}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
