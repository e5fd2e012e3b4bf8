"""detectron2-like containers: :class:`Boxes` (``.tensor`` of XYXY boxes), :class:`PolygonMasks` and
:class:`Instances`.

Predictions are ``{"instances": Instances}`` with fields ``pred_boxes`` (Boxes), ``scores``,
``pred_classes`` (0-based) and ``pred_masks`` (N x H x W bool), so detectron2 user code ports unchanged.
"""
import itertools

import numpy as np
import torch

from localstyle.data.annotations import polygons_to_mask


class Boxes:
    """N x 4 float tensor of (x0, y0, x1, y1) boxes in absolute pixels."""

    def __init__(self, tensor):
        tensor = torch.as_tensor(tensor, dtype=torch.float32)
        self.tensor = tensor.reshape(-1, 4)

    def clone(self):
        return Boxes(self.tensor.clone())

    def to(self, device):
        return Boxes(self.tensor.to(device))

    def area(self):
        t = self.tensor
        return (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])

    def clip(self, image_size):
        """Clip in place to an image of (height, width)."""
        h, w = image_size
        self.tensor[:, 0].clamp_(min=0, max=w)
        self.tensor[:, 1].clamp_(min=0, max=h)
        self.tensor[:, 2].clamp_(min=0, max=w)
        self.tensor[:, 3].clamp_(min=0, max=h)

    def nonempty(self, threshold=0.0):
        t = self.tensor
        return ((t[:, 2] - t[:, 0]) > threshold) & ((t[:, 3] - t[:, 1]) > threshold)

    def scale(self, scale_x, scale_y):
        self.tensor[:, 0::2] *= scale_x
        self.tensor[:, 1::2] *= scale_y

    def __getitem__(self, item):
        if isinstance(item, int):
            return Boxes(self.tensor[item].view(1, -1))
        return Boxes(self.tensor[item])

    def __len__(self):
        return self.tensor.shape[0]

    def __iter__(self):
        yield from self.tensor

    def __repr__(self):
        return f"Boxes({self.tensor})"

    @staticmethod
    def cat(boxes_list):
        return Boxes(torch.cat([b.tensor for b in boxes_list], dim=0))

    @property
    def device(self):
        return self.tensor.device


class PolygonMasks:
    """Instance masks as polygons: ``polygons[i]`` is a list of flat float64 ``[x0, y0, x1, y1, ...]`` arrays.

    Kept through the geometric augmentations (:meth:`scale`, :meth:`flip`) and rasterized only per ROI at the
    mask head's resolution (:meth:`crop_and_resize`, detectron2's semantics), so no full-image bitmap is made.
    """

    def __init__(self, polygons):
        self.polygons = [[np.asarray(p, dtype=np.float64).reshape(-1) for p in polys] for polys in polygons]

    def __len__(self):
        return len(self.polygons)

    def __getitem__(self, item):
        if isinstance(item, int):
            return PolygonMasks([self.polygons[item]])
        if isinstance(item, slice):
            return PolygonMasks(self.polygons[item])
        item = torch.as_tensor(item)
        if item.dtype == torch.bool:
            item = torch.nonzero(item, as_tuple=True)[0]
        return PolygonMasks([self.polygons[i] for i in item.tolist()])

    def to(self, device):
        """Polygons stay on the CPU (they are rasterized there, as in detectron2)."""
        return self

    def scale(self, scale_x, scale_y):
        """Polygons with x multiplied by ``scale_x`` and y by ``scale_y`` (a resize of the image)."""
        factors = np.array([scale_x, scale_y])
        return PolygonMasks([[(p.reshape(-1, 2) * factors).reshape(-1) for p in polys] for polys in self.polygons])

    def flip(self, axis_length, horizontal=True):
        """Polygons mirrored like the image: ``x -> width - x`` (or ``y -> height - y``)."""
        def mirror(p):
            p = p.copy()
            p[0 if horizontal else 1::2] = axis_length - p[0 if horizontal else 1::2]
            return p
        return PolygonMasks([[mirror(p) for p in polys] for polys in self.polygons])

    def rasterize(self, height, width):
        """N x height x width bool tensor of the full masks."""
        out = torch.zeros((len(self), height, width), dtype=torch.bool)
        for i, polys in enumerate(self.polygons):
            out[i] = torch.from_numpy(polygons_to_mask(polys, height, width))
        return out

    def crop_and_resize(self, boxes, indices, side):
        """``side`` x ``side`` bool CPU tensor per box: polygons ``indices[k]`` cut to ``boxes[k]`` (XYXY tensor)
        and rasterized there (detectron2's ``PolygonMasks.crop_and_resize``)."""
        boxes = boxes.detach().to("cpu", torch.float64).numpy()
        out = torch.zeros((len(boxes), side, side), dtype=torch.bool)
        for k, (box, i) in enumerate(zip(boxes, torch.as_tensor(indices).tolist())):
            origin = box[:2]
            ratio = side / np.maximum(box[2:] - origin, 0.1)
            polys = [((p.reshape(-1, 2) - origin) * ratio).reshape(-1) for p in self.polygons[i]]
            out[k] = torch.from_numpy(polygons_to_mask(polys, side, side))
        return out

    @staticmethod
    def cat(masks_list):
        return PolygonMasks([polys for m in masks_list for polys in m.polygons])


class Instances:
    """A list of per-instance fields of equal length for one image of ``image_size`` (height, width)."""

    def __init__(self, image_size, **fields):
        self._image_size = tuple(int(x) for x in image_size)
        self._fields = {}
        for k, v in fields.items():
            self.set(k, v)

    @property
    def image_size(self):
        return self._image_size

    def __setattr__(self, name, value):
        if name.startswith("_"):
            super().__setattr__(name, value)
        else:
            self.set(name, value)

    def __getattr__(self, name):
        if name == "_fields" or name not in self._fields:
            raise AttributeError(f"Cannot find field '{name}' in the given Instances!")
        return self._fields[name]

    def set(self, name, value):
        if self._fields and len(value) != len(self):
            raise ValueError(f"Adding a field of length {len(value)} to Instances of length {len(self)}")
        self._fields[name] = value

    def has(self, name):
        return name in self._fields

    def remove(self, name):
        del self._fields[name]

    def get(self, name):
        return self._fields[name]

    def get_fields(self):
        return self._fields

    def to(self, device):
        out = Instances(self._image_size)
        for k, v in self._fields.items():
            out.set(k, v.to(device) if hasattr(v, "to") else v)
        return out

    def __getitem__(self, item):
        if isinstance(item, int):
            if item >= len(self) or item < -len(self):
                raise IndexError("Instances index out of range!")
            item = slice(item, None, len(self)) if item != -1 else slice(item, None)
        out = Instances(self._image_size)
        for k, v in self._fields.items():
            if isinstance(v, list):
                if isinstance(item, torch.Tensor) and item.dtype == torch.bool:
                    v = [x for x, keep in zip(v, item.tolist()) if keep]
                elif isinstance(item, torch.Tensor):
                    v = [v[i] for i in item.tolist()]
                else:
                    v = v[item]
                out.set(k, v)
            else:
                out.set(k, v[item])
        return out

    def __len__(self):
        for v in self._fields.values():
            return len(v)
        return 0

    def __iter__(self):
        raise NotImplementedError("Instances is not iterable; index it instead")

    @staticmethod
    def cat(instance_lists):
        """Concatenate Instances of the same image size."""
        if len(instance_lists) == 1:
            return instance_lists[0]
        image_size = instance_lists[0].image_size
        out = Instances(image_size)
        for k, v0 in instance_lists[0]._fields.items():
            values = [i.get(k) for i in instance_lists]
            if isinstance(v0, torch.Tensor):
                out.set(k, torch.cat(values, dim=0))
            elif isinstance(v0, list):
                out.set(k, list(itertools.chain(*values)))
            elif hasattr(type(v0), "cat"):
                out.set(k, type(v0).cat(values))
            else:
                raise ValueError(f"Unsupported type {type(v0)} for concatenation")
        return out

    def __repr__(self):
        fields = ", ".join(f"{k}: {getattr(v, 'shape', len(v))}" for k, v in self._fields.items())
        return f"Instances(num_instances={len(self)}, image_height={self._image_size[0]}, " \
               f"image_width={self._image_size[1]}, fields=[{fields}])"
