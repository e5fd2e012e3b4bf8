"""Input images of a stylize run: listing them (:func:`list_inputs`) and decoding them in DataLoader workers."""
import glob
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import list_image_files, read_image


def list_inputs(spec):
    """Image paths for ``spec``: a file, a folder (its images, sorted) or a glob pattern."""
    if os.path.isdir(spec):
        paths = list_image_files(spec)
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        paths = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if not paths:
        raise LocalstyleError(f"{spec}: no input images (expected a file, a folder of images or a glob)")
    return paths


def output_stem(path):
    """The name an input's outputs are written under: its file name without extension."""
    return os.path.splitext(os.path.basename(path))[0]


@dataclass
class ImageRecord:
    """One decoded input: RGB uint8 ``image``, or ``error`` (one line) when it could not be read."""

    path: str
    image: Optional[np.ndarray]
    error: Optional[str]
    decode_s: float


class ImageFiles(torch.utils.data.Dataset):
    """Decodes images (RGB uint8) in DataLoader workers; an unreadable file yields a record with its error."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        t0 = time.perf_counter()
        try:
            image, error = read_image(self.paths[i], "RGB"), None
        except LocalstyleError as e:
            image, error = None, str(e)
        return ImageRecord(self.paths[i], image, error, time.perf_counter() - t0)


def image_loader(paths, batch_size, num_workers):
    """Batches (lists) of :class:`ImageRecord`, decoded by ``num_workers`` workers ahead of the consumer."""
    return torch.utils.data.DataLoader(ImageFiles(paths), batch_size=max(1, batch_size), shuffle=False,
                                       num_workers=num_workers if len(paths) > 1 else 0, collate_fn=list)
