"""Distributed helpers (torch.distributed); every function also works in a single, non-distributed process."""
import os

import torch
import torch.distributed as dist

_LOCAL_RANK = None  # set by localstyle.engine.launch for spawned workers


def is_distributed():
    """True when a default process group is initialized."""
    return dist.is_available() and dist.is_initialized()


def get_world_size():
    return dist.get_world_size() if is_distributed() else 1


def get_rank():
    return dist.get_rank() if is_distributed() else 0


def get_local_rank():
    """Rank of this process on its machine (the GPU index it uses)."""
    if _LOCAL_RANK is not None:
        return _LOCAL_RANK
    return int(os.environ.get("LOCAL_RANK", 0))


def set_local_rank(local_rank):
    global _LOCAL_RANK
    _LOCAL_RANK = int(local_rank)


def is_main_process():
    return get_rank() == 0


def synchronize():
    """Barrier across all processes (no-op when not distributed)."""
    if get_world_size() > 1:
        if dist.get_backend() == dist.Backend.NCCL and torch.cuda.is_available():
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def all_gather(obj):
    """Gather any picklable object from every process; returns the list ordered by rank."""
    if get_world_size() == 1:
        return [obj]
    output = [None] * get_world_size()
    dist.all_gather_object(output, obj)
    return output


def gather(obj, dst=0):
    """Gather picklable objects on rank ``dst``; returns the list there and ``[]`` elsewhere."""
    if get_world_size() == 1:
        return [obj]
    output = [None] * get_world_size() if get_rank() == dst else None
    dist.gather_object(obj, output, dst=dst)
    return output if get_rank() == dst else []


def all_reduce_sum(tensor):
    """Sum ``tensor`` over all processes in place and return it."""
    if get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
