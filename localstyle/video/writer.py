"""Video files out: the codec choice (H.264 when OpenCV's FFmpeg can encode it, else MPEG-4 part 2) and
atomic writers (a file appears complete under its name, or not at all)."""
import contextlib
import functools
import logging
import os
import tempfile

import cv2
import numpy as np

from localstyle.utils.errors import LocalstyleError

logger = logging.getLogger(__name__)
PREFERRED_CODECS = ("avc1", "mp4v")  # H.264 plays everywhere; mp4v is what every OpenCV build can write


@contextlib.contextmanager
def quiet_stderr():
    """Silence C-level stderr (FFmpeg and OpenCV print several lines when a codec or an input cannot be opened)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@functools.lru_cache(maxsize=None)
def codec_works(fourcc, ext=".mp4"):
    """Whether OpenCV can encode a few frames with ``fourcc`` into a ``ext`` file here."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe" + ext)
        with quiet_stderr():
            w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10.0, (64, 48))
            ok = w.isOpened()
            if ok:
                for i in range(3):
                    w.write(np.full((48, 64, 3), 60 * i, np.uint8))
            w.release()
        return ok and os.path.getsize(path) > 0


def choose_codec(requested=""):
    """``requested`` (a FourCC) if given and it works, else the first of :data:`PREFERRED_CODECS` that works."""
    if requested:
        if len(requested) != 4:
            raise LocalstyleError(f"VIDEO.CODEC: {requested!r} is not a four-character code (e.g. avc1, mp4v)")
        if not codec_works(requested):
            raise LocalstyleError(f"VIDEO.CODEC: this OpenCV build cannot encode {requested!r} into mp4")
        return requested
    for fourcc in PREFERRED_CODECS:
        if codec_works(fourcc):
            return fourcc
    raise LocalstyleError("this OpenCV build can write neither H.264 (avc1) nor MPEG-4 (mp4v) video")


class AtomicVideoWriter:
    """Writes RGB uint8 frames to a hidden temporary file next to ``path``; ``close()`` renames it onto ``path``."""

    def __init__(self, path, fps, size, fourcc):
        self.path = path
        root, ext = os.path.splitext(path)
        self.tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(root)}.partial{ext}")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.size = tuple(int(v) for v in size)
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*fourcc), float(fps), self.size)
        if not self.writer.isOpened():
            raise LocalstyleError(f"{path}: cannot open a {fourcc} video writer")
        self.frames = 0

    def write(self, rgb):
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise LocalstyleError(f"{self.path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, video is "
                                  f"{self.size[0]}x{self.size[1]}")
        self.writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
        self.frames += 1

    def close(self):
        """Finish the file and move it into place."""
        self.writer.release()
        os.replace(self.tmp, self.path)

    def abort(self):
        """Drop the temporary file."""
        self.writer.release()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp)

