"""``TEST.VAL_LOSS``: the training losses of the current model on DATASETS.TEST, logged at each evaluation."""
import datetime
import logging
import time
from collections import defaultdict

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from localstyle.engine.checkpointer import unwrap_model
from localstyle.utils import comm

logger = logging.getLogger(__name__)


def validation_loss(cfg, model, log_period_s=5.0):
    """Per-image mean of every loss (and their sum) over all DATASETS.TEST images, as ``{"val_<loss>": v,
    "val_total_loss": v}`` (same on every process). Images are resized as for testing, not flipped; the heads run
    in training mode (proposal sampling) without gradients, with BatchNorm in eval mode so no statistics change."""
    from localstyle.data.build import build_detection_test_loader
    from localstyle.data.dataset_mapper import DatasetMapper
    from localstyle.data.transforms import build_augmentation

    model = unwrap_model(model)
    mapper = DatasetMapper(cfg, is_train=True, augmentations=build_augmentation(cfg, is_train=False))
    was_training = model.training
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
    sums, count, start, last_log = defaultdict(float), 0, time.perf_counter(), time.perf_counter()
    with torch.no_grad():
        for name in cfg.DATASETS.TEST:
            loader = build_detection_test_loader(cfg, name, mapper=mapper)
            for idx, batch in enumerate(loader):
                for k, v in model(batch).items():
                    sums[k] += float(v) * len(batch)
                count += len(batch)
                if time.perf_counter() - last_log > log_period_s and comm.is_main_process():
                    eta = (time.perf_counter() - start) / (idx + 1) * (len(loader) - idx - 1)
                    logger.info(f"Validation loss on {name}: {idx + 1}/{len(loader)}. "
                                f"ETA={datetime.timedelta(seconds=int(eta))}")
                    last_log = time.perf_counter()
    model.train(was_training)
    totals, images = defaultdict(float), 0
    for rank_sums, rank_count in comm.all_gather((dict(sums), count)):  # a rank may have had no image
        images += rank_count
        for k, v in rank_sums.items():
            totals[k] += v
    losses = {f"val_{k}": v / max(images, 1) for k, v in sorted(totals.items())}
    losses["val_total_loss"] = sum(losses.values())
    return losses
