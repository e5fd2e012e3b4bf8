"""Splitting a run's inputs across ranks: deterministic (every rank computes the same split from the same files,
nothing is sent) and balanced by pixels to process."""
import heapq

from PIL import Image


def image_pixels(path):
    """Width x height of an image file, from its header (0 when it cannot be read: the runner reports it)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Exception:  # PIL raises many types for broken files; the runner gives the one-line error later
        return 0
    return width * height


def shard(items, costs, world_size, rank):
    """The items of ``rank``: largest first to the least loaded rank (ties to the lowest rank), so that every rank
    gets about the same total cost; within a rank the input order is kept."""
    heap = [(0, r) for r in range(world_size)]
    owner = [0] * len(items)
    for i in sorted(range(len(items)), key=lambda i: (-costs[i], str(items[i]))):
        load, r = heapq.heappop(heap)
        owner[i] = r
        heapq.heappush(heap, (load + max(1, costs[i]), r))
    return [item for item, r in zip(items, owner) if r == rank]
