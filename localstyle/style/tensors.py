"""Small conversions shared by the torch style methods: uint8 RGB arrays <-> float tensors."""
import numpy as np
import torch


def to_tensor(image, device="cpu"):
    """H x W x 3 uint8 RGB -> 1 x 3 x H x W float 0..1."""
    return torch.from_numpy(np.array(image, dtype=np.float32, copy=True)).permute(2, 0, 1)[None].div_(255).to(device)


def to_uint8(tensor):
    """1 x 3 x H x W float 0..1 -> H x W x 3 uint8 RGB."""
    return (tensor[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()).copy()
