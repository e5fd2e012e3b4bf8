"""detectron2-like containers: :class:`Boxes` (``.tensor`` of XYXY boxes) and :class:`Instances`.

Predictions are ``{"instances": Instances}`` with fields ``pred_boxes`` (Boxes), ``scores``,
``pred_classes`` (0-based) and ``pred_masks`` (N x H x W bool), so detectron2 user code ports unchanged.
"""
import itertools

import torch


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
