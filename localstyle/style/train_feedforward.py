"""Training a feed-forward style network (Johnson et al. 2016) for one style image.

Photos come from a folder (``FEEDFORWARD.IMAGE_DIR``) or a registered dataset (``FEEDFORWARD.DATASET``);
each sample is a random square crop of ``FEEDFORWARD.IMAGE_SIZE`` pixels. The loss is the style helper's
normalized perceptual loss (:mod:`localstyle.style.losses`) on the VGG of ``STYLE.VGG.*``. The sample
order and crops depend only on ``STYLE.SEED`` and the sample index, so ``--resume`` continues the same run.

OUTPUT_DIR layout (detectron2's): ``config.yaml``, ``model_XXXXXXX.pth``, ``last_checkpoint``,
``model_final.pth``, ``metrics.json`` (one JSON object per line) and TensorBoard event files.
"""
import logging
import os
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from localstyle.engine.checkpointer import Checkpointer
from localstyle.engine.hooks import MetricsWriter
from localstyle.style.losses import gram_matrix, perceptual_losses
from localstyle.style.tensors import to_tensor
from localstyle.style.transformer_net import TransformerNet
from localstyle.style.vgg import build_vgg_from_cfg
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open
from localstyle.utils.image_io import list_image_files, read_image, resize_image, resize_longest

logger = logging.getLogger(__name__)


def list_training_images(cfg):
    """Image paths from FEEDFORWARD.IMAGE_DIR (recursively) or the file names of FEEDFORWARD.DATASET."""
    ff = cfg.FEEDFORWARD
    if bool(ff.IMAGE_DIR) == bool(ff.DATASET):
        raise LocalstyleError("set exactly one of FEEDFORWARD.IMAGE_DIR (--images) and FEEDFORWARD.DATASET (--dataset)")
    if ff.DATASET:
        from localstyle.data import register_datasets_from_cfg
        from localstyle.data.catalog import DatasetCatalog

        register_datasets_from_cfg(cfg)
        paths = sorted({d["file_name"] for d in DatasetCatalog.get(ff.DATASET)})
        source = f"dataset {ff.DATASET}"
    else:
        if not os.path.isdir(ff.IMAGE_DIR):
            raise LocalstyleError(f"{ff.IMAGE_DIR}: training image folder not found (FEEDFORWARD.IMAGE_DIR)")
        paths = list_image_files(ff.IMAGE_DIR, recursive=True)
        source = ff.IMAGE_DIR
    if not paths:
        raise LocalstyleError(f"{source}: no training images found")
    return paths


def random_crop(image, size, rng):
    """Scale the shorter side to ``size`` and cut a random ``size`` x ``size`` square (RGB uint8)."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    image = resize_image(image, nh, nw)
    top, left = rng.integers(0, nh - size + 1), rng.integers(0, nw - size + 1)
    return image[top : top + size, left : left + size]


class CropDataset(Dataset):
    """Sample ``k`` is a random crop of the ``k % n``-th image of epoch ``k // n``'s permutation.

    Everything is derived from ``(seed, k)``, so any range of samples can be drawn in any process.
    """

    def __init__(self, paths, size, seed):
        self.paths, self.size, self.seed = list(paths), int(size), int(seed)

    def __len__(self):
        return 2**62  # indexed by the sampler's global sample numbers

    def __getitem__(self, k):
        n = len(self.paths)
        order = np.random.default_rng([self.seed, k // n]).permutation(n)
        image = read_image(self.paths[order[k % n]])
        return to_tensor(random_crop(image, self.size, np.random.default_rng([self.seed, n, k])))[0]


def build_train_loader(cfg, paths, start_iter=0):
    """Batches of crops for iterations ``start_iter .. MAX_ITER - 1`` (deterministic, resumable)."""
    ff = cfg.FEEDFORWARD
    dataset = CropDataset(paths, ff.IMAGE_SIZE, max(cfg.STYLE.SEED, 0))
    sampler = range(start_iter * ff.BATCH_SIZE, ff.MAX_ITER * ff.BATCH_SIZE)
    return DataLoader(dataset, batch_size=ff.BATCH_SIZE, sampler=sampler, num_workers=cfg.DATALOADER.NUM_WORKERS)


@torch.no_grad()
def style_grams(vgg, style, layers, size, device):
    """Gram matrices (1 x C x C) of an RGB uint8 style image resized to ``size`` (longest side)."""
    x = to_tensor(resize_longest(style, size), device)
    feats = vgg(x, list(layers))
    return {k: gram_matrix(feats[k].float()) for k in layers}


def batch_losses(vgg, output, content, grams, content_layers):
    """``{"content", "style", "tv"}`` losses of ``output`` against its ``content`` batch and the style Grams."""
    feats = vgg(output, list(content_layers) + list(grams))
    with torch.no_grad():
        targets = vgg(content, list(content_layers))
    return perceptual_losses(feats, {k: targets[k] for k in content_layers}, grams, output)


@torch.no_grad()
def evaluate_style_loss(net, vgg, images, grams):
    """Mean style loss of ``net``'s outputs on a batch of RGB 0..1 ``images`` (N x 3 x H x W)."""
    net.eval()
    out = net(images).clamp(0.0, 1.0)
    return float(perceptual_losses(vgg(out, list(grams)), {}, grams, out, tv=False)["style"])


class FeedForwardTrainer:
    """Train one :class:`TransformerNet` for ``cfg.STYLE.IMAGE`` into ``cfg.OUTPUT_DIR``."""

    def __init__(self, cfg):
        ff = cfg.FEEDFORWARD
        if not cfg.STYLE.IMAGE:
            raise LocalstyleError("no style image: pass --style PATH (STYLE.IMAGE)")
        if ff.MAX_ITER < 1 or ff.BATCH_SIZE < 1 or ff.IMAGE_SIZE < 16:
            raise LocalstyleError("FEEDFORWARD.MAX_ITER and BATCH_SIZE must be >= 1 and IMAGE_SIZE >= 16")
        self.cfg, self.output_dir = cfg, cfg.OUTPUT_DIR
        self.style = read_image(cfg.STYLE.IMAGE)
        self.paths = list_training_images(cfg)
        self.device = torch.device(resolve_device(cfg))
        torch.manual_seed(max(cfg.STYLE.SEED, 0))
        self.net = TransformerNet(ff.CHANNELS, ff.NUM_RESIDUAL).to(self.device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=ff.LR)
        self.amp = bool(ff.AMP) and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.vgg = build_vgg_from_cfg(cfg, self.device)
        self.grams = style_grams(self.vgg, self.style, ff.STYLE_LAYERS, ff.STYLE_SIZE, self.device)
        self.weights = {"content": ff.CONTENT_WEIGHT, "style": ff.STYLE_WEIGHT, "tv": ff.TV_WEIGHT}
        self.checkpointer = Checkpointer(self.net, self.output_dir, optimizer=self.optimizer, scaler=self.scaler)
        self.start_iter = 0

    # -- checkpoints ---------------------------------------------------------------------------------
    def checkpoint_name(self, iteration):
        """``model_XXXXXXX`` for an iteration count, ``model_final`` at FEEDFORWARD.MAX_ITER."""
        return "model_final" if iteration >= self.cfg.FEEDFORWARD.MAX_ITER else f"model_{iteration - 1:07d}"

    def save(self, iteration):
        """Atomically write the model, optimizer, scaler and iteration count, then ``last_checkpoint``."""
        name = self.checkpoint_name(iteration)
        self.checkpointer.save(name, iteration=iteration, style_image=os.path.abspath(self.cfg.STYLE.IMAGE))
        return os.path.join(self.output_dir, f"{name}.pth")

    def resume_or_load(self, resume=True):
        """With ``resume``, continue from ``OUTPUT_DIR/last_checkpoint`` when it exists; returns the start iteration."""
        path = self.checkpointer.get_checkpoint_file() if resume else None
        if path is not None:
            self.start_iter = int(self.checkpointer.load(path)["iteration"])
            logger.info("resumed from %s at iteration %d", path, self.start_iter)
        return self.start_iter

    # -- training ------------------------------------------------------------------------------------
    def step(self, batch):
        """One optimizer step on a batch of crops; returns the float losses."""
        self.net.train()
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            layers = self.cfg.FEEDFORWARD.CONTENT_LAYERS
            losses = batch_losses(self.vgg, self.net(batch), batch, self.grams, layers)
            total = sum(self.weights[k] * v for k, v in losses.items() if self.weights[k])
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {"total": total.item(), **{k: v.item() for k, v in losses.items()}}

    def train(self):
        """Run iterations ``start_iter .. MAX_ITER``; returns the path of ``model_final.pth``."""
        ff = self.cfg.FEEDFORWARD
        os.makedirs(self.output_dir, exist_ok=True)
        with atomic_open(os.path.join(self.output_dir, "config.yaml"), "w") as f:
            f.write(self.cfg.dump())
        if self.start_iter >= ff.MAX_ITER:
            logger.info("already trained to %d iterations", ff.MAX_ITER)
            return os.path.join(self.output_dir, "model_final.pth")
        logger.info("training a %d-channel style network on %d images, %d iterations on %s%s",
                    ff.CHANNELS, len(self.paths), ff.MAX_ITER, self.device, " (AMP)" if self.amp else "")
        writer = MetricsWriter(self.output_dir, ff.MAX_ITER, start_iter=self.start_iter + 1, period=ff.LOG_PERIOD)
        iteration, start, bad = self.start_iter, time.perf_counter(), 0
        progress = tqdm(total=ff.MAX_ITER, initial=iteration, desc="style net", unit="it", dynamic_ncols=True)
        try:
            for batch in build_train_loader(self.cfg, self.paths, self.start_iter):
                losses = self.step(batch.to(self.device, non_blocking=True))
                # AMP's scaler skips the odd overflowing step; a loss that stays non-finite is divergence.
                bad = 0 if np.isfinite(losses["total"]) else bad + 1
                if bad > (20 if self.amp else 0):
                    raise LocalstyleError(
                        f"loss became {losses['total']} at iteration {iteration}; lower FEEDFORWARD.LR"
                    )
                iteration += 1
                progress.update(1)
                progress.set_postfix(loss=f"{losses['total']:.3f}", style=f"{losses['style']:.3f}")
                if iteration % ff.LOG_PERIOD == 0 or iteration == ff.MAX_ITER:
                    self.log(writer, iteration, losses, time.perf_counter() - start)
                if iteration % ff.CHECKPOINT_PERIOD == 0 or iteration == ff.MAX_ITER:
                    self.save(iteration)
        finally:
            progress.close()
            writer.close()
        return os.path.join(self.output_dir, "model_final.pth")

    def log(self, writer, iteration, losses, seconds):
        """A ``metrics.json`` line and TensorBoard scalars, through the engine's :class:`MetricsWriter`."""
        lr = self.optimizer.param_groups[0]["lr"]
        writer.write_scalars(iteration, {**{f"loss_{k}": v for k, v in losses.items()}, "lr": lr, "time": seconds})
