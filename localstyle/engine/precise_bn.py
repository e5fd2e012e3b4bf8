"""``TEST.PRECISE_BN``: recompute BatchNorm statistics over training batches (fvcore's PreciseBN) before evaluating."""
import logging

from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

from localstyle.engine.checkpointer import unwrap_model
from localstyle.utils import comm

logger = logging.getLogger(__name__)


def precise_bn(cfg, model, start_iter):
    """With TEST.PRECISE_BN.ENABLED, replace the running mean/variance of every (trainable) BatchNorm layer
    by their average over TEST.PRECISE_BN.NUM_ITER training batches (the ones training uses from ``start_iter``
    on, so resumed runs stay exact). A no-op, logged, for models without trainable BatchNorm (e.g. FrozenBN).
    Returns the number of layers updated."""
    if not cfg.TEST.PRECISE_BN.ENABLED:
        return 0
    model = unwrap_model(model)
    was_training = model.training
    model.train()
    layers = get_bn_modules(model)
    if not layers:
        logger.info("TEST.PRECISE_BN: the model has no trainable BatchNorm layer (FrozenBN, GN or none); "
                    "nothing to recompute")
    else:
        from localstyle.data.build import build_detection_train_loader

        num_iter = cfg.TEST.PRECISE_BN.NUM_ITER
        logger.info(f"TEST.PRECISE_BN: recomputing the statistics of {len(layers)} BatchNorm layers "
                    f"over {num_iter} training batches")
        loader = build_detection_train_loader(cfg, start_iter=start_iter)
        update_bn_stats(model, iter(loader), num_iter, progress="tqdm" if comm.is_main_process() else None)
    model.train(was_training)
    return len(layers)
