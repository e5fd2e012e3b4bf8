"""Training checkpoints in detectron2's layout: ``model_XXXXXXX.pth`` / ``model_final.pth`` plus ``last_checkpoint``.

A checkpoint is ``{"model": state_dict, "optimizer", "scheduler", "grad_scaler", "iteration"}`` written atomically
on the main process; ``last_checkpoint`` (atomic too) holds the file name of the newest one.
"""
import logging
import os

import torch
from torch.nn.parallel import DistributedDataParallel

from localstyle.utils import comm
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, atomic_torch_save
from localstyle.utils.safe_pickle import load_weights_file

logger = logging.getLogger(__name__)
# The ResNet body of an FPN model: weights for training must give all of it (a pretrained backbone, whole)
BACKBONE_PREFIX = "backbone.bottom_up."


def unwrap_model(model):
    """The module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


class Checkpointer:
    """Save and restore a model and any objects with ``state_dict()`` / ``load_state_dict()``."""

    def __init__(self, model, save_dir, save_to_disk=None, **checkpointables):
        self.model = unwrap_model(model)
        self.save_dir = save_dir
        self.save_to_disk = comm.is_main_process() if save_to_disk is None else save_to_disk
        self.checkpointables = {k: v for k, v in checkpointables.items() if v is not None}

    def save(self, name, tag_last=True, **extra):
        """Write ``save_dir/name.pth`` and (``tag_last``) point ``last_checkpoint`` at it. Refuses non-finite
        weights, so a diverged model never replaces the last good checkpoint."""
        if not self.save_to_disk:
            return
        state = self.model.state_dict()
        bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
        if bad:
            raise FloatingPointError(f"not saving {name}: non-finite values in {bad[:5]}")
        data = {"model": state, **{k: v.state_dict() for k, v in self.checkpointables.items()}, **extra}
        filename = f"{name}.pth"
        atomic_torch_save(data, os.path.join(self.save_dir, filename))
        if tag_last:
            with atomic_open(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
                f.write(filename)
        logger.info(f"Saved checkpoint {os.path.join(self.save_dir, filename)}")

    def get_checkpoint_file(self):
        """Path of the newest checkpoint named by ``last_checkpoint``, or None."""
        tag = os.path.join(self.save_dir, "last_checkpoint")
        if not os.path.isfile(tag):
            return None
        with open(tag, encoding="utf-8") as f:
            path = os.path.join(self.save_dir, f.read().strip())
        if not os.path.isfile(path):
            raise LocalstyleError(f"{tag}: names {path}, which does not exist")
        return path

    def load(self, path):
        """Restore the model (strictly) and every checkpointable present in ``path``; returns the extra fields."""
        data = load_weights_file(path)
        if not isinstance(data, dict) or not isinstance(data.get("model"), dict):
            raise LocalstyleError(f"{path}: not a training checkpoint (no 'model' state dict)")
        try:
            self.model.load_state_dict(data.pop("model"))
            for key, obj in self.checkpointables.items():
                if key in data:
                    obj.load_state_dict(data.pop(key))
                else:
                    logger.warning(f"{path}: no '{key}' state; it starts fresh")
        except (KeyError, RuntimeError, ValueError) as e:
            raise LocalstyleError(f"{path}: does not fit this model ({str(e).splitlines()[0]})") from None
        logger.info(f"Loaded checkpoint {path}")
        return data

    def resume_or_load(self, weights, resume, trusted=False, allow_missing=False):
        """With ``resume`` and a ``last_checkpoint``: restore everything and return the next iteration.
        Otherwise load ``weights`` (if any) with ``localstyle.modeling.weight_loading.load_model_weights`` (full
        unpickling only if ``trusted``); return 0. ``self.load_report`` tells what was loaded (None: nothing).

        Weights that leave more than half of the model, or any tensor of its backbone, at random init (made for
        another depth or architecture) are an error unless ``allow_missing`` (MODEL.WEIGHTS_ALLOW_MISSING); the
        heads of a new task may start fresh."""
        from localstyle.modeling.weight_loading import load_model_weights, misfit

        self.load_report = None
        if resume:
            path = self.get_checkpoint_file()
            if path is not None:
                iteration = int(self.load(path).get("iteration", -1)) + 1  # strict: every tensor
                tensors = sum(not k.endswith("num_batches_tracked") for k in self.model.state_dict())
                self.load_report = {"path": path, "missing": [], "tensors": tensors}
                return iteration
            logger.info(f"--resume: no last_checkpoint in {self.save_dir}; starting from MODEL.WEIGHTS")
        if weights:
            report = self.load_report = load_model_weights(self.model, weights, trusted)
            logger.info(f"Loaded weights {weights}: {_summary(report)}")
            missing = report["missing"]
            backbone = [k for k in missing if k.startswith(BACKBONE_PREFIX)]
            if len(missing) * 2 > report["tensors"] or backbone:
                if not allow_missing:
                    raise LocalstyleError(misfit(report, (backbone or missing)[0], (
                        "they do not fit this config (another depth or architecture?); set "
                        "MODEL.WEIGHTS_ALLOW_MISSING True to start the rest from random init")))
                logger.warning(misfit(report, (backbone or missing)[0], "the rest start from random init "
                                                                          "(MODEL.WEIGHTS_ALLOW_MISSING)"))
        return 0


def _summary(report):
    if not isinstance(report, dict):
        return str(report)
    return ", ".join(f"{len(v)} {k}" if isinstance(v, (list, tuple, set, dict)) else f"{k}={v}"
                     for k, v in report.items())


class PeriodicCheckpointer:
    """Save ``model_{iteration:07d}`` every ``period`` iterations and ``model_final`` after the last one."""

    def __init__(self, checkpointer, period, max_iter):
        self.checkpointer = checkpointer
        self.period = int(period)
        self.max_iter = int(max_iter)

    def step(self, iteration):
        """Call after ``iteration`` (0-based) finished; the checkpoint records it so resume starts at +1."""
        if self.period > 0 and (iteration + 1) % self.period == 0 and iteration + 1 < self.max_iter:
            self.checkpointer.save(f"model_{iteration:07d}", iteration=iteration)
        if iteration + 1 >= self.max_iter:
            self.checkpointer.save("model_final", iteration=iteration)
