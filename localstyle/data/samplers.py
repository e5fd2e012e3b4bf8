"""Deterministic, resumable sample order for training and rank-sharded order for inference.

Training order is defined globally (independent of world size and workers): epoch ``e`` visits the dataset
in ``numpy.random.default_rng([seed, e]).permutation(n)``; global batches of ``IMS_PER_BATCH`` are cut from
that stream (optionally grouped by aspect ratio, as detectron2 does), and rank ``r`` takes slice ``r`` of
each global batch. Every sample carries the augmentation seed ``(seed, iteration, slot)``.
"""
import itertools

import numpy as np

from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError


def training_indices(size, seed, start=0):
    """Infinite stream of dataset indices (a fresh seeded permutation per epoch) from global position ``start``."""
    epoch, offset = divmod(start, size)
    while True:
        yield from np.random.default_rng([seed, epoch]).permutation(size)[offset:].tolist()
        epoch, offset = epoch + 1, 0


def _global_batches(aspect_groups, batch_size, seed, start_iter):
    """Yield ``(iteration, [dataset_index, ...])`` global batches from ``start_iter`` on."""
    size = len(aspect_groups)
    if size == 0:
        raise LocalstyleError("the training set is empty (after filtering images without annotations)")
    if not any(aspect_groups):
        it = start_iter
        stream = training_indices(size, seed, start_iter * batch_size)
        while True:
            yield it, list(itertools.islice(stream, batch_size))
            it += 1
    buckets, it = {}, 0
    for index in training_indices(size, seed):
        bucket = buckets.setdefault(aspect_groups[index], [])
        bucket.append(index)
        if len(bucket) == batch_size:
            if it >= start_iter:  # earlier batches are replayed (indices only) to restore the bucket state
                yield it, list(bucket)
            bucket.clear()
            it += 1


class TrainingBatchSampler:
    """Infinite iterator of this rank's batches: ``[(dataset_index, (seed, iteration, slot)), ...]``.

    ``aspect_groups[i]`` is the group id of sample ``i`` (all 0 disables grouping). Building it with
    ``start_iter=k`` yields exactly what an uninterrupted sampler yields from iteration ``k``.
    """

    def __init__(self, aspect_groups, global_batch_size, seed, start_iter=0, rank=None, world_size=None):
        if rank is None or world_size is None:
            rank, world_size = comm.get_rank(), comm.get_world_size()
        if global_batch_size % world_size:
            raise LocalstyleError(f"SOLVER.IMS_PER_BATCH={global_batch_size} is not divisible by the number of "
                                  f"processes ({world_size})")
        self.aspect_groups = list(aspect_groups)
        self.batch_size, self.seed, self.start_iter = global_batch_size, seed, start_iter
        self.per_rank, self.rank = global_batch_size // world_size, rank

    def __iter__(self):
        lo = self.rank * self.per_rank
        for it, batch in _global_batches(self.aspect_groups, self.batch_size, self.seed, self.start_iter):
            yield [(batch[slot], (self.seed, it, slot)) for slot in range(lo, lo + self.per_rank)]


class InferenceSampler:
    """Indices ``rank, rank + world, ...`` of a dataset of ``size`` items (the union over ranks is all items)."""

    def __init__(self, size, rank=None, world_size=None):
        if rank is None or world_size is None:
            rank, world_size = comm.get_rank(), comm.get_world_size()
        self.indices = range(rank, size, world_size)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)
