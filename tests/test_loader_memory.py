"""The training loader's memory stays flat: workers read the serialized dataset dicts without copying them, their
garbage collections skip the objects inherited from the main process, and they give back the heap memory that their
image buffers leave free."""
import gc
import sys
import time

import numpy as np
import pytest

from localstyle.config import get_cfg
from localstyle.data import DatasetCatalog, MetadataCatalog
from localstyle.data.build import build_detection_train_loader
from localstyle.utils.memory import process_tree, smaps_rollup, summed_pss

NUM_ENTRIES, NUM_IMAGES, GROWTH_BOUND, WORKER_PRIVATE_BOUND = 3000, 3000, 0.02, 32 * 2**20
BUFFER_BATCHES, WORKER_GROWTH_BOUND = 200, 5 * 2**20  # without the per-batch trim: ~11 MiB


def synthetic_entries():
    """A few thousand dataset dicts with many polygon annotations (about 100 MB as Python objects)."""
    rng = np.random.default_rng(0)
    return [{"file_name": f"/nonexistent/{i:06d}.jpg", "height": 480, "width": 640, "image_id": i,
             "annotations": [{"bbox": [10.0, 20.0, 30.0, 40.0], "bbox_mode": 1, "category_id": 0, "iscrowd": 0,
                              "segmentation": [rng.uniform(0, 400, 60).round(2).tolist()]} for _ in range(20)]}
            for i in range(NUM_ENTRIES)]


def touch_annotations(dataset_dict, seed):
    """A mapper that reads every coordinate of the dict (as a real mapper does) and returns a small summary;
    now and then it runs a full garbage collection, as a long run eventually does in each worker."""
    if seed[1] % 500 == 0:
        gc.collect()
    return sum(sum(p) for a in dataset_dict["annotations"] for p in a["segmentation"]), seed


def image_buffers(dataset_dict, seed):
    """A mapper that writes to and frees a buffer of 1-24 MB, as image decoding and resizing do (sizes vary)."""
    buffer = np.empty(int(np.random.default_rng(seed).integers(2**20, 24 * 2**20)), dtype=np.uint8)
    buffer[::4096] = 1  # every page
    return int(buffer[::4096].sum()), seed


def two_worker_cfg():
    if "loader_memory_synthetic" not in DatasetCatalog:
        DatasetCatalog.register("loader_memory_synthetic", synthetic_entries)
        MetadataCatalog.get("loader_memory_synthetic").set(thing_classes=["person"])
    cfg = get_cfg()
    cfg.merge_from_list(["DATASETS.TRAIN", "('loader_memory_synthetic',)", "DATALOADER.NUM_WORKERS", "2",
                         "SOLVER.IMS_PER_BATCH", "2", "MODEL.ROI_HEADS.NUM_CLASSES", "1"])
    return cfg


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS is read from /proc")
def test_loader_with_workers_keeps_pss_flat():
    cfg = two_worker_cfg()
    program_state = synthetic_entries()  # objects the main process keeps (a model, evaluation data, ...)
    others = set(process_tree())  # earlier tests may have left helper processes
    it = iter(build_detection_train_loader(cfg, mapper=touch_annotations))
    next(it)
    workers = sorted(set(process_tree()) - others)
    assert len(workers) == 2
    first = summed_pss()
    for _ in range(NUM_IMAGES // 2):
        next(it)
    growth = summed_pss() / first - 1
    private = [smaps_rollup(pid)["Private_Dirty"] for pid in workers]
    del it, program_state
    assert growth < GROWTH_BOUND, f"PSS grew by {growth:.1%} (from {first / 2**20:.0f} MiB)"
    # the workers' garbage collections did not copy the main process's ~100 MB of objects
    assert max(private) < WORKER_PRIVATE_BOUND, [p / 2**20 for p in private]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS is read from /proc")
def test_workers_give_back_the_buffers_they_free():
    others = set(process_tree())
    it = iter(build_detection_train_loader(two_worker_cfg(), mapper=image_buffers))

    def idle_workers_anon():
        time.sleep(0.5)  # the workers have filled the prefetch queue and hold no buffer
        return [smaps_rollup(pid)["Pss_Anon"] for pid in sorted(set(process_tree()) - others)]

    next(it)
    first = idle_workers_anon()
    for _ in range(BUFFER_BATCHES):
        next(it)
    end = idle_workers_anon()
    del it
    assert len(first) == len(end) == 2
    # glibc keeps freed heap memory up to twice the largest buffer seen; each worker hands it back after a batch
    growth = [(b - a) / 2**20 for a, b in zip(first, end)]
    assert max(growth) < WORKER_GROWTH_BOUND / 2**20, growth
