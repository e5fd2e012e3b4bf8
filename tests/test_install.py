"""The pinned torch/torchvision pair loads torchvision's compiled ops (the CPU torch 2.13 wheel trap)."""
import torch
import torchvision
from torchvision.ops import nms, roi_align


def test_torchvision_ops_load_and_run():
    assert torchvision.__version__.startswith("0.29.2") and torch.__version__.startswith("2.15.0")
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    feature = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = roi_align(feature, [torch.tensor([[0.0, 0.0, 4.0, 4.0]])], output_size=(2, 2),
                    spatial_scale=1.0, sampling_ratio=2, aligned=True)
    # Each output bin averages one 2x2 quadrant of the 4x4 ramp.
    assert torch.allclose(out.flatten(), torch.tensor([2.5, 4.5, 10.5, 12.5]))
