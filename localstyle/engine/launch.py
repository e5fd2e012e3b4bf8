"""Start distributed training: one process per GPU (or per CPU worker), on one or several machines, or under torchrun.

* ``launch(main, num_gpus_per_machine=N)`` spawns N processes with ``torch.multiprocessing``; each joins a process
  group (NCCL when CUDA is available, else gloo) and runs ``main(*args)``. On a machine without CUDA,
  ``--num-gpus N`` therefore means N CPU worker processes talking over gloo (useful for tests and debugging).
* Several machines: run the same command on each with ``--num-machines M --machine-rank i
  --dist-url tcp://<host of machine 0>:<port>``. ``dist_url="auto"`` picks a free local port (one machine only).
* Under ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` in the environment)
  the process group is initialized from the environment and ``main`` runs in the current process.
"""
import datetime
import logging
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from localstyle.utils import comm
from localstyle.utils.cli import launched_by_torchrun
from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)


def find_free_port():
    """A TCP port that is free on this machine now (for a local ``--dist-url``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def _backend():
    return "nccl" if torch.cuda.is_available() else "gloo"


def launch(main_func, num_gpus_per_machine, num_machines=1, machine_rank=0, dist_url=None, args=(),
           timeout=DEFAULT_TIMEOUT):
    """Run ``main_func(*args)`` in ``num_machines * num_gpus_per_machine`` processes (see module docstring)."""
    if launched_by_torchrun():
        _init_and_run(main_func, args, int(os.environ["LOCAL_RANK"]), "env://", None, None, timeout)
        return
    world_size = num_machines * num_gpus_per_machine
    if world_size <= 1 and dist_url in (None, "", "auto"):
        main_func(*args)  # one process: no process group (an explicit --dist-url still makes one)
        return
    if dist_url in (None, "", "auto"):
        if num_machines != 1:
            raise LocalstyleError("--dist-url auto works on one machine only; give tcp://host:port of machine 0")
        dist_url = f"tcp://127.0.0.1:{find_free_port()}"
    if torch.cuda.is_available() and num_gpus_per_machine > torch.cuda.device_count():
        raise LocalstyleError(
            f"--num-gpus {num_gpus_per_machine} but only {torch.cuda.device_count()} CUDA devices are visible"
        )
    mp.start_processes(
        _distributed_worker,
        nprocs=num_gpus_per_machine,
        args=(main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args, timeout),
        daemon=False,
        start_method="spawn",
    )


def _distributed_worker(local_rank, main_func, world_size, num_gpus_per_machine, machine_rank, dist_url, args,
                        timeout):
    rank = machine_rank * num_gpus_per_machine + local_rank
    if not torch.cuda.is_available() and "OMP_NUM_THREADS" not in os.environ:
        # N CPU workers share the machine's cores (as torchrun does); oversubscribed OpenMP threads are very slow.
        threads = max(1, (os.cpu_count() or 1) // num_gpus_per_machine)
        os.environ["OMP_NUM_THREADS"] = str(threads)  # also read by the onnxruntime sessions of the style methods
        torch.set_num_threads(threads)
    _init_and_run(main_func, args, local_rank, dist_url, world_size, rank, timeout)


def _init_and_run(main_func, args, local_rank, init_method, world_size, rank, timeout):
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    kwargs = {} if world_size is None else {"world_size": world_size, "rank": rank}
    dist.init_process_group(_backend(), init_method=init_method, timeout=timeout, **kwargs)
    comm.set_local_rank(local_rank)
    try:
        comm.synchronize()
        main_func(*args)
    finally:
        dist.destroy_process_group()
