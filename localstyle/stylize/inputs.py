"""Input images of a stylize run: listing them (:func:`list_inputs`) and decoding them ahead in threads."""
import collections
import concurrent.futures
import glob
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import IMAGE_EXTENSIONS, list_image_files, read_image


def list_inputs(spec, extensions=IMAGE_EXTENSIONS):
    """Image paths for ``spec``: a file, a folder (its images, sorted) or a glob pattern; ``extensions`` decides
    which files of a folder are listed (stylize_net.py adds the video ones)."""
    if os.path.isdir(spec):
        paths = list_image_files(spec, extensions=extensions)
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


def decode(path):
    """The :class:`ImageRecord` of ``path`` (an unreadable file gives a record with its error)."""
    t0 = time.perf_counter()
    try:
        image, error = read_image(path, "RGB"), None
    except LocalstyleError as e:
        image, error = None, str(e)
    return ImageRecord(path, image, error, time.perf_counter() - t0)


def image_loader(paths, batch_size, num_workers):
    """Batches (lists) of :class:`ImageRecord` in input order, decoded by ``num_workers`` threads ahead of the
    consumer (0: in the caller's thread).

    Threads, not processes: OpenCV and Pillow decode without holding the GIL, and a thread pool starts in
    microseconds where DataLoader workers cost start-up and an ``import torch`` the ONNX methods do not need.
    """
    batch_size = max(1, batch_size)
    batches = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
    if num_workers <= 0 or len(paths) <= 1:
        for batch in batches:
            yield [decode(p) for p in batch]
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="decode") as pool:
        pending = collections.deque()
        for batch in batches:
            pending.append([pool.submit(decode, p) for p in batch])
            if len(pending) > 2:  # two batches decoding ahead of the one being stylized
                yield [f.result() for f in pending.popleft()]
        while pending:
            yield [f.result() for f in pending.popleft()]
