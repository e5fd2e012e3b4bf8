"""GeneralizedRCNN (backbone -> RPN -> ROI heads) with detectron2's input/output format, and its registry."""
import torch
from fvcore.common.registry import Registry
from torch import nn

from localstyle.modeling.backbone import build_backbone
from localstyle.modeling.postprocessing import detector_postprocess
from localstyle.modeling.roi_heads import build_roi_heads
from localstyle.modeling.rpn import RPN
from localstyle.utils.device import resolve_device
from localstyle.utils.errors import LocalstyleError

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = "Meta architectures: classes built as ``cls(cfg)``; pick one with MODEL.META_ARCHITECTURE."


def pad_images(images, size_divisibility, pad_value=0.0):
    """Stack C x H_i x W_i tensors into N x C x H x W, padded bottom/right to multiples of ``size_divisibility``."""
    max_h = max(int(im.shape[-2]) for im in images)
    max_w = max(int(im.shape[-1]) for im in images)
    if size_divisibility > 1:
        max_h = (max_h + size_divisibility - 1) // size_divisibility * size_divisibility
        max_w = (max_w + size_divisibility - 1) // size_divisibility * size_divisibility
    batch = images[0].new_full((len(images), images[0].shape[0], max_h, max_w), pad_value)
    for im, out in zip(images, batch):
        out[:, :im.shape[-2], :im.shape[-1]].copy_(im)
    return batch


def init_pixel_normalization(module, cfg):
    """Set ``module.input_format`` and the non-persistent ``pixel_mean``/``pixel_std`` buffers from ``cfg``."""
    module.input_format = cfg.INPUT.FORMAT
    if module.input_format not in ("BGR", "RGB"):
        raise LocalstyleError(f"INPUT.FORMAT must be BGR or RGB, got {module.input_format!r}")
    mean, std = cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD
    if len(mean) != 3 or len(std) != 3:
        raise LocalstyleError("MODEL.PIXEL_MEAN and MODEL.PIXEL_STD need 3 values each")
    module.register_buffer("pixel_mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
    module.register_buffer("pixel_std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)


def preprocess_images(module, batched_inputs, size_divisibility):
    """Normalize each input's ``image`` with ``module``'s pixel statistics (on its device), then pad the batch
    (zeros after normalization). Returns ``(N x C x H x W tensor, [(h, w) of each image])``."""
    device = module.pixel_mean.device
    images = [(x["image"].to(device) - module.pixel_mean) / module.pixel_std for x in batched_inputs]
    image_sizes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
    return pad_images(images, size_divisibility), image_sizes


@META_ARCH_REGISTRY.register()
class GeneralizedRCNN(nn.Module):
    """Mask R-CNN: ``model(list_of_dicts)`` -> losses (training) or ``[{"instances": Instances}]`` (eval).

    Each input dict has ``image`` (C x H x W in cfg.INPUT.FORMAT channel order, 0-255, already resized),
    optional ``height``/``width`` (output size, default: the image's) and, for training, ``instances`` with
    ``gt_boxes``, ``gt_classes`` and ``gt_masks`` (N x H x W bool) in the resized image's coordinates.
    """

    def __init__(self, cfg):
        super().__init__()
        self.backbone = build_backbone(cfg)
        shape = self.backbone.output_shape()
        if cfg.MODEL.PROPOSAL_GENERATOR.NAME != "RPN":
            raise LocalstyleError(f"MODEL.PROPOSAL_GENERATOR.NAME {cfg.MODEL.PROPOSAL_GENERATOR.NAME!r} "
                                  "is not supported (RPN)")
        if cfg.MODEL.KEYPOINT_ON or cfg.MODEL.LOAD_PROPOSALS:
            raise LocalstyleError("MODEL.KEYPOINT_ON and MODEL.LOAD_PROPOSALS are not supported")
        self.proposal_generator = RPN(cfg, shape)
        self.roi_heads = build_roi_heads(cfg, shape)
        init_pixel_normalization(self, cfg)

    @property
    def device(self):
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs):
        """Normalize each image, then pad the batch (zeros after normalization). Returns (tensor, image_sizes)."""
        return preprocess_images(self, batched_inputs, self.backbone.size_divisibility)

    def forward(self, batched_inputs):
        if not self.training:
            return self.inference(batched_inputs)
        if any("instances" not in x for x in batched_inputs):
            raise LocalstyleError("training inputs need an 'instances' field (gt_boxes, gt_classes, gt_masks)")
        targets = [x["instances"].to(self.device) for x in batched_inputs]
        images, image_sizes = self.preprocess_image(batched_inputs)
        features = self.backbone(images)
        proposals, losses = self.proposal_generator(image_sizes, features, targets)
        losses.update(self.roi_heads(image_sizes, features, proposals, targets))
        return losses

    def inference(self, batched_inputs, detected_instances=None, do_postprocess=True):
        """Detections per input; with ``do_postprocess`` in each input's ``height``/``width`` with pasted masks.
        ``detected_instances`` (Instances with ``pred_boxes``, ``pred_classes`` in the input image's coordinates)
        skips the RPN and the box head: only the mask head runs on those boxes."""
        images, image_sizes = self.preprocess_image(batched_inputs)
        features = self.backbone(images)
        if detected_instances is not None:
            results = self.roi_heads.forward_with_given_boxes(features, [i.to(self.device) for i in detected_instances])
        else:
            proposals, _ = self.proposal_generator(image_sizes, features)
            results = self.roi_heads(image_sizes, features, proposals)
        if not do_postprocess:
            return results
        outputs = []
        for inst, inp, size in zip(results, batched_inputs, image_sizes):
            height, width = inp.get("height", size[0]), inp.get("width", size[1])
            outputs.append({"instances": detector_postprocess(inst, height, width)})
        return outputs


def build_model(cfg):
    """Build ``cfg.MODEL.META_ARCHITECTURE`` from META_ARCH_REGISTRY on ``cfg.MODEL.DEVICE`` (no weights loaded)."""
    name = cfg.MODEL.META_ARCHITECTURE
    if name not in META_ARCH_REGISTRY:
        raise LocalstyleError(f"MODEL.META_ARCHITECTURE {name!r} is not registered "
                              f"(known: {sorted(META_ARCH_REGISTRY._obj_map)})")
    model = META_ARCH_REGISTRY.get(name)(cfg)
    return model.to(torch.device(resolve_device(cfg)))
