"""One training iteration (detectron2's SimpleTrainer/AMPTrainer ``run_step``): forward under autocast when AMP is
on, a hard stop on non-finite losses, backward, optional gradient clipping, optimizer and scheduler steps."""
import torch

from localstyle.utils import comm


class TrainStep:
    """``step(batch, iteration)`` returns the scalars to log: losses averaged over processes, ``total_loss``,
    ``lr`` and ``images`` (global batch size). AMP is on when a ``scaler`` (``torch.amp.GradScaler``) is given."""

    def __init__(self, model, optimizer, scheduler, clip_gradients=None, scaler=None):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.clip_gradients = clip_gradients
        self.scaler = scaler
        self.device_type = next(model.parameters()).device.type

    def __call__(self, batch, iteration):
        with torch.autocast(device_type=self.device_type, enabled=self.scaler is not None):
            loss_dict = self.model(batch)
        losses = sum(loss_dict.values())
        names = sorted(loss_dict)
        stats = torch.stack([loss_dict[k].detach().float() for k in names]
                            + [torch.tensor(float(len(batch)), device=losses.device)])
        stats = comm.all_reduce_sum(stats).tolist()
        world = comm.get_world_size()
        metrics = {k: v / world for k, v in zip(names, stats)}
        metrics["total_loss"] = sum(metrics.values())
        if not torch.isfinite(torch.tensor(stats)).all():
            raise FloatingPointError(
                f"Loss became infinite or NaN at iteration={iteration}! loss_dict = "
                + ", ".join(f"{k}={v:.6g}" for k, v in metrics.items())
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(losses).backward()
            if self.clip_gradients is not None:
                self.scaler.unscale_(self.optimizer)
                self.clip_gradients(self._params())
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            losses.backward()
            if self.clip_gradients is not None:
                self.clip_gradients(self._params())
            self.optimizer.step()
        metrics["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        metrics["images"] = stats[-1]
        return metrics

    def _params(self):
        return [p for group in self.optimizer.param_groups for p in group["params"]]
