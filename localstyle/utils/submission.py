"""train_net.py / stylize_net.py as a submitit job (``tools/submit.py``): one task per process, each started with the
torchrun environment that :mod:`localstyle.engine.launch` reads, requeued with ``--resume`` on timeout or preemption.
Here, not in ``engine``: a task only starts the script, and needs no torch itself."""
import os
import re
import subprocess
import sys

import submitit

from localstyle.utils.errors import LocalstyleError

ENTRY_POINTS = ("train_net.py", "stylize_net.py")


def check_command(command):
    """``command`` (what follows ``--``) must start with train_net.py or stylize_net.py; returns it as a list."""
    if not command or os.path.basename(command[0]) not in ENTRY_POINTS:
        raise LocalstyleError(f"after --: expected train_net.py or stylize_net.py and its arguments, got "
                              f"{' '.join(command) or 'nothing'!r}")
    if not os.path.isfile(command[0]):
        raise LocalstyleError(f"{command[0]}: script not found")
    return [os.path.abspath(command[0]), *command[1:]]  # tasks may start in another folder


def torchrun_env(job_env, environ=None):
    """The environment of one task: ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` (the job's first
    host) and ``MASTER_PORT`` (derived from the job id, the same in every task); on CPU ``OMP_NUM_THREADS`` splits
    the node's cores between its tasks, as launch does for ``--num-gpus``."""
    env = dict(os.environ if environ is None else environ)
    digits = re.sub(r"\D", "", str(job_env.job_id)) or "0"
    tasks_per_node = max(1, job_env.num_tasks // max(1, job_env.num_nodes))
    env.update(RANK=str(job_env.global_rank), LOCAL_RANK=str(job_env.local_rank), WORLD_SIZE=str(job_env.num_tasks),
               LOCAL_WORLD_SIZE=str(tasks_per_node), MASTER_ADDR=job_env.hostnames[0],
               MASTER_PORT=str(20000 + int(digits) % 20000))
    if not env.get("CUDA_VISIBLE_DEVICES") and "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // tasks_per_node))
    return env


class ScriptJob(submitit.helpers.Checkpointable):
    """Runs ``python <command>`` in each task of a submitit job; on timeout or preemption submitit calls
    :meth:`checkpoint` and requeues the job."""

    def __init__(self, command):
        self.command = list(command)

    def __call__(self):
        job_env = submitit.JobEnvironment()
        code = subprocess.call([sys.executable, *self.command], env=torchrun_env(job_env))
        if code:
            raise LocalstyleError(f"rank {job_env.global_rank}: {' '.join(self.command)} exited with status {code}")
        return code

    def checkpoint(self):
        """The same command again; training continues from OUTPUT_DIR/last_checkpoint (``--resume``), stylization
        from the manifest (finished inputs are skipped)."""
        return submitit.helpers.DelayedSubmission(ScriptJob(resume_command(self.command)))


def resume_command(command):
    """``command`` with ``--resume`` added for train_net.py (once); stylize_net.py resumes by itself."""
    if os.path.basename(command[0]) == "train_net.py" and "--resume" not in command:
        return [command[0], "--resume", *command[1:]]
    return list(command)
