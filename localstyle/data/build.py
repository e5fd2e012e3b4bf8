"""Training and test data loaders (detectron2's ``build_detection_{train,test}_loader``)."""
import gc
import logging

import torch.utils.data

from localstyle.data.catalog import DatasetCatalog
from localstyle.data.classes import check_num_classes, class_selection, select_classes
from localstyle.data.dataset_mapper import DatasetMapper
from localstyle.data.samplers import InferenceSampler, TrainingBatchSampler
from localstyle.data.sem_seg import is_semantic, run_class_names
from localstyle.data.sem_seg_mapper import SemSegDatasetMapper
from localstyle.data.serialized_list import SerializedList
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.memory import in_separate_arena, release_free_memory

logger = logging.getLogger(__name__)


def get_detection_dataset_dicts(names, filter_empty=True, classes=(), num_classes=None):
    """Concatenate the dataset dicts of ``names``, keeping only ``classes`` (``DATASETS.CLASSES``; empty: all).

    With ``filter_empty`` drop images without non-crowd annotations. With ``num_classes`` (the model's), a
    dataset whose classes do not match is a :class:`LocalstyleError` naming both numbers.
    """
    if isinstance(names, str):
        names = [names]
    if not names:
        raise LocalstyleError("no dataset given (set DATASETS.TRAIN)")
    dicts, first = [], None
    for name in names:
        items = DatasetCatalog.get(name)
        selection = class_selection(name, classes)
        items = select_classes(items, selection)
        if num_classes is not None:
            check_num_classes(name, selection, items, num_classes, listed=bool(classes))
        if first is not None and selection is not None and first.names != selection.names:
            raise LocalstyleError(f"dataset {name!r} has classes {list(selection.names)} but {first.dataset!r} "
                                  f"has {list(first.names)}")
        first = first or selection
        dicts.extend(items)
    if filter_empty:
        before = len(dicts)
        dicts = [d for d in dicts if any(not a.get("iscrowd", 0) for a in d.get("annotations", []))]
        logger.info("Removed %d images without usable annotations; %d left", before - len(dicts), len(dicts))
    return dicts


def model_num_classes(cfg):
    """The class count the datasets must match: MODEL.ROI_HEADS.NUM_CLASSES for instance models; None (no check)
    for semantic ones, whose MODEL.SEM_SEG_HEAD.CLASSES are looked up by name."""
    return None if is_semantic(cfg) else cfg.MODEL.ROI_HEADS.NUM_CLASSES


def training_seed(cfg):
    """The data-order seed: ``cfg.SEED``, or 0 when it is negative (so runs stay resumable)."""
    return cfg.SEED if cfg.SEED >= 0 else 0


def _identity(batch):
    return batch


def _freeze_inherited_objects(worker_id):
    """In a forked worker, exclude the objects inherited from the main process from garbage collection: a
    collection writes to every tracked object, so each worker would copy the pages holding them (PSS growth)."""
    gc.freeze()


def serialize_dicts(dicts):
    """The dataset dicts as a :class:`SerializedList` (workers read it without copying; logged size)."""
    out = SerializedList(dicts)
    logger.info("Serialized %d dataset dicts into %.2f MiB", len(out), out.nbytes / 2**20)
    return out


def _load_serialized_dicts(*args):
    """:func:`get_detection_dataset_dicts` ``(*args)`` as a :class:`SerializedList`."""
    return serialize_dicts(get_detection_dataset_dicts(*args))


def _load_train_dicts(cfg):
    """The training dicts as a :class:`SerializedList` and their aspect-ratio groups (0: landscape, 1: portrait)."""
    dicts = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS,
                                        cfg.DATASETS.CLASSES, model_num_classes(cfg))
    groups = [int(d["width"] < d["height"]) if cfg.DATALOADER.ASPECT_RATIO_GROUPING else 0 for d in dicts]
    return serialize_dicts(dicts), groups


class _MapTrainBatch(torch.utils.data.Dataset):
    """Maps a sampler key ``[(index, aug_seed), ...]`` to the list of mapped dicts.

    In a worker, the free memory of the batch goes back to the system after each batch: the decoded and resized
    images come from malloc's heap (glibc raises its mmap threshold after the first large free) and every new image
    size or size mix leaves the heap's resident high-water mark a little higher, so without it each worker's
    memory creeps up by ~15-20 MB over the first thousands of images. It costs ~1.5 ms per batch plus faulting the
    pages in again (the loader is 20-40% slower where the workers are the bottleneck)."""

    def __init__(self, dicts, mapper):
        self.dicts, self.mapper = dicts, mapper

    def __getitem__(self, key):
        batch = [self.mapper(self.dicts[i], seed=list(s)) for i, s in key]
        if torch.utils.data.get_worker_info() is not None:
            release_free_memory()
        return batch


class _MapTest(torch.utils.data.Dataset):
    def __init__(self, dicts, mapper):
        self.dicts, self.mapper = dicts, mapper

    def __getitem__(self, i):
        return self.mapper(self.dicts[i])

    def __len__(self):
        return len(self.dicts)


def build_detection_train_loader(cfg, start_iter=0, mapper=None):
    """Infinite loader of per-process batches (lists of mapped dicts) for ``cfg.DATASETS.TRAIN``.

    The order and the augmentations depend only on ``cfg.SEED`` (negative: 0), the data and the iteration:
    not on ``DATALOADER.NUM_WORKERS`` nor on the world size (each rank gets its slice of the global batch of
    ``SOLVER.IMS_PER_BATCH``). ``start_iter=k`` yields exactly the batches an uninterrupted loader yields from
    iteration ``k`` on. ``mapper(dataset_dict, seed)`` defaults to :class:`DatasetMapper` in training mode
    (:class:`SemSegDatasetMapper` for semantic meta-architectures).
    """
    if cfg.DATALOADER.SAMPLER_TRAIN != "TrainingSampler":
        raise LocalstyleError(f"DATALOADER.SAMPLER_TRAIN={cfg.DATALOADER.SAMPLER_TRAIN!r} is not supported "
                              f"(only TrainingSampler)")
    # loading in a thread of its own keeps the JSON's freed temporaries out of the main heap, which forked
    # workers would otherwise allocate all over (their PSS creeping up), and hands them back to the system
    dicts, groups = in_separate_arena(_load_train_dicts, cfg)
    if mapper is None and is_semantic(cfg):
        name = cfg.DATASETS.TRAIN[0]
        mapper = SemSegDatasetMapper(cfg, True, run_class_names(name, cfg.DATASETS.CLASSES), name)
    sampler = TrainingBatchSampler(groups, cfg.SOLVER.IMS_PER_BATCH, training_seed(cfg), start_iter)
    dataset = _MapTrainBatch(dicts, mapper or DatasetMapper(cfg, is_train=True))
    return torch.utils.data.DataLoader(dataset, batch_size=None, sampler=sampler, collate_fn=_identity,
                                       num_workers=cfg.DATALOADER.NUM_WORKERS,
                                       worker_init_fn=_freeze_inherited_objects)


def build_detection_test_loader(cfg, dataset_name, mapper=None):
    """Loader of ``[mapped_dict]`` (batch size 1) over ``dataset_name`` in dataset order; rank ``r`` of ``w``
    gets items ``r::w``. ``mapper`` defaults to :class:`DatasetMapper` in test mode."""
    dicts = in_separate_arena(_load_serialized_dicts, dataset_name, False, cfg.DATASETS.CLASSES,
                              model_num_classes(cfg))
    return torch.utils.data.DataLoader(
        _MapTest(dicts, mapper or DatasetMapper(cfg, is_train=False)), batch_size=1,
        sampler=InferenceSampler(len(dicts)), num_workers=cfg.DATALOADER.NUM_WORKERS, collate_fn=_identity,
        worker_init_fn=_freeze_inherited_objects)
