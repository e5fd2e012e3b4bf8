"""Model analysis with fvcore (detectron2's ``utils/analysis.py``): FLOPs and activations traced on real inputs.
The tracer sees the model through :class:`TensorIO`, which takes and returns tensors."""
import warnings
from collections import Counter
from dataclasses import dataclass, field

import torch
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis, flop_count_table
from torch import nn


class TensorIO(nn.Module):
    """``model`` (eval mode) on one input dict as ``forward(image) -> (boxes, scores, classes[, masks])``; the
    input's other fields (``height``, ``width``) are constants of the trace."""

    def __init__(self, model, inputs):
        super().__init__()
        self.model = model
        self.constants = {k: v for k, v in inputs.items() if k in ("height", "width")}

    def forward(self, image):
        inst = self.model([{"image": image, **self.constants}])[0]["instances"]
        outputs = (inst.pred_boxes.tensor, inst.scores, inst.pred_classes)
        return outputs + ((inst.pred_masks,) if inst.has("pred_masks") else ())


@dataclass
class CountSummary:
    """Totals of one count (FLOPs or activations) over several inputs, and what the tracer could not count."""

    totals: list = field(default_factory=list)
    by_operator: Counter = field(default_factory=Counter)
    unsupported: Counter = field(default_factory=Counter)
    first_table: str = ""

    def note(self):
        """One line naming the ops fvcore has no formula for (counted as 0), or ''."""
        if not self.unsupported:
            return ""
        ops = ", ".join(f"{op} (x{n})" for op, n in self.unsupported.most_common())
        return f"fvcore has no formula for these ops, counted as 0 (calls over all inputs): {ops}"


def count_model(model, inputs_iter, kind="flop", max_depth=5):
    """Trace ``model`` on every input dict of ``inputs_iter`` and sum fvcore's ``kind`` ("flop" or
    "activation") counts; the per-module table is the first input's."""
    analysis_cls = {"flop": FlopCountAnalysis, "activation": ActivationCountAnalysis}[kind]
    summary = CountSummary()
    model.eval()
    for inputs in inputs_iter:
        counter = analysis_cls(TensorIO(model, inputs), (inputs["image"].to(model.device),))
        counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            summary.totals.append(counter.total())
        summary.by_operator.update(counter.by_operator())
        summary.unsupported.update(counter.unsupported_ops())
        if not summary.first_table:
            summary.first_table = flop_count_table(counter, max_depth=max_depth, show_param_shapes=False)
    return summary
