"""Map detections from the network's resized input back to the original image (detectron2's detector_postprocess)."""
import torch
from torch.nn import functional as F

from localstyle.structures import Instances


def _paste_one(mask, box, img_h, img_w):
    """Sample a square probability mask at the pixel centres of the region around ``box`` (grid_sample bilinear)."""
    x0_int, y0_int = torch.clamp(box[:2].floor() - 1, min=0).to(torch.int32).tolist()
    x1_int = int(torch.clamp(box[2].ceil() + 1, max=img_w).to(torch.int32))
    y1_int = int(torch.clamp(box[3].ceil() + 1, max=img_h).to(torch.int32))
    x0, y0, x1, y1 = box.view(1, 4).split(1, dim=1)
    img_y = torch.arange(y0_int, y1_int, device=box.device, dtype=torch.float32) + 0.5
    img_x = torch.arange(x0_int, x1_int, device=box.device, dtype=torch.float32) + 0.5
    img_y = (img_y - y0) / (y1 - y0) * 2 - 1
    img_x = (img_x - x0) / (x1 - x0) * 2 - 1
    gx = img_x[:, None, :].expand(1, img_y.size(1), img_x.size(1))
    gy = img_y[:, :, None].expand(1, img_y.size(1), img_x.size(1))
    grid = torch.stack([gx, gy], dim=3)
    pasted = F.grid_sample(mask[None, None].float(), grid.to(torch.float32), align_corners=False)
    return pasted[0, 0], (slice(y0_int, y1_int), slice(x0_int, x1_int))


def paste_masks_in_image(masks, boxes, image_shape, threshold=0.5):
    """Paste R x M x M mask probabilities into R x H x W bool masks (``>= threshold``) at ``boxes`` (R x 4)."""
    img_h, img_w = image_shape
    out = torch.zeros((len(masks), img_h, img_w), dtype=torch.bool, device=masks.device)
    for i in range(len(masks)):
        pasted, (ys, xs) = _paste_one(masks[i], boxes[i], img_h, img_w)
        out[i, ys, xs] = pasted >= threshold
    return out


def detector_postprocess(results, output_height, output_width, mask_threshold=0.5):
    """Scale boxes from ``results.image_size`` to (output_height, output_width), clip, drop empty, paste masks."""
    scale_x = output_width / results.image_size[1]
    scale_y = output_height / results.image_size[0]
    out = Instances((output_height, output_width), **results.get_fields())
    boxes = out.pred_boxes
    boxes.scale(scale_x, scale_y)
    boxes.clip(out.image_size)
    out = out[boxes.nonempty()]
    if out.has("pred_masks"):
        out.pred_masks = paste_masks_in_image(out.pred_masks[:, 0], out.pred_boxes.tensor, out.image_size,
                                              mask_threshold)
    return out
