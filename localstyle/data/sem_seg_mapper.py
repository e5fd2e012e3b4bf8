"""The training mapper of semantic models: images augmented like detection's, annotations as class maps."""
import numpy as np
import torch
from torchvision import tv_tensors

from localstyle.data.dataset_mapper import DatasetMapper
from localstyle.data.sem_seg import annotations_to_sem_seg, category_labels
from localstyle.data.transforms import apply_augmentations


class SemSegDatasetMapper(DatasetMapper):
    """The DatasetMapper for semantic models: training dicts get ``sem_seg`` (H x W int64, same augmentation as
    the image, nearest-neighbour resize) instead of ``instances``; test mode is DatasetMapper's."""

    def __init__(self, cfg, is_train=True, thing_classes=(), dataset="dataset"):
        super().__init__(cfg, is_train)
        self.ignore_value = cfg.MODEL.SEM_SEG_HEAD.IGNORE_VALUE
        self.labels = category_labels(list(thing_classes), list(cfg.MODEL.SEM_SEG_HEAD.CLASSES), dataset)

    def __call__(self, dataset_dict, seed=None):
        if not self.is_train:
            return super().__call__(dataset_dict, seed)
        d, image = self.read(dataset_dict)
        h, w = image.shape[:2]
        labels = annotations_to_sem_seg(dataset_dict.get("annotations", []), h, w, self.labels, self.ignore_value)
        inputs = (tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1)),
                  tv_tensors.Mask(torch.from_numpy(labels)[None]))
        img, sem_seg = apply_augmentations(self.augmentations, inputs, np.random.default_rng(seed))
        d["image"] = img.as_subclass(torch.Tensor).contiguous()
        d["sem_seg"] = sem_seg.as_subclass(torch.Tensor)[0].long()
        return d
