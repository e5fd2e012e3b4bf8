"""Video files out: the codec choice, atomic writers (a file appears complete under its name, or not at all) and
joining finished segments into one file without re-encoding them.

H.264 (``avc1``) is encoded by libx264 in the FFmpeg binary that the imageio-ffmpeg wheel ships, as yuv420p (the
format browsers play); without it, MPEG-4 part 2 (``mp4v``) through OpenCV. Both need even sizes (4:2:0
chroma): a frame with an odd width or height gets its last column or row repeated once (161 x 97 -> 162 x 98),
and :func:`encoded_size` says so for the manifest.
"""
import contextlib
import dataclasses
import functools
import logging
import os
import subprocess
import tempfile

import cv2
import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_path

logger = logging.getLogger(__name__)
# visually lossless for stylized frames at the fastest preset (files ~1.5x the size of "medium"'s: the encoder
# shares the CPU with the stylization); no B-frames, so that joined segments keep exact frame timestamps
X264_OPTIONS = ["-preset", "ultrafast", "-crf", "18", "-bf", "0"]


@dataclasses.dataclass(frozen=True)
class Codec:
    """``fourcc``: what the manifest calls the codec (``avc1`` = H.264); ``encoder``: ``libx264`` or ``opencv``."""

    fourcc: str
    encoder: str


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
def ffmpeg_exe():
    """Path of imageio-ffmpeg's FFmpeg binary if it is installed and has libx264, else None."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
        encoders = subprocess.run([exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    except (ImportError, RuntimeError, OSError, subprocess.SubprocessError):
        return None
    return exe if " libx264 " in encoders.stdout else None


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
    """The :class:`Codec` for VIDEO.CODEC ``requested``: "" or "avc1": H.264 by libx264 when imageio-ffmpeg is
    installed ("" falls back to OpenCV's mp4v, "avc1" to OpenCV's avc1 if it can); another FourCC: OpenCV's."""
    if requested and len(requested) != 4:
        raise LocalstyleError(f"VIDEO.CODEC: {requested!r} is not a four-character code (e.g. avc1, mp4v)")
    if requested in ("", "avc1") and ffmpeg_exe():
        return Codec("avc1", "libx264")
    fourcc = requested or "mp4v"
    if codec_works(fourcc):
        if not requested:
            logger.warning("imageio-ffmpeg (FFmpeg with libx264) is not installed: writing mp4v videos, which "
                           "browsers do not play (pip install imageio-ffmpeg)")
        return Codec(fourcc, "opencv")
    raise LocalstyleError(f"VIDEO.CODEC: cannot encode {fourcc!r} into mp4 here"
                          + (" (pip install imageio-ffmpeg for H.264)" if fourcc == "avc1" else ""))


def encoded_size(size):
    """(width, height) of the video written for frames of ``size``: odd sides grow by one (4:2:0 needs even)."""
    w, h = (int(v) for v in size)
    return w + w % 2, h + h % 2


def pad_to_even(rgb):
    """``rgb`` with its last column / row repeated once where the width / height is odd."""
    h, w = rgb.shape[:2]
    if not (h % 2 or w % 2):
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


class AtomicVideoWriter:
    """Writes RGB uint8 frames of ``size`` to a hidden temporary file next to ``path`` with :class:`Codec` ``codec``;
    ``close()`` renames it onto ``path``."""

    def __init__(self, path, fps, size, codec):
        self.path, self.codec = path, codec
        root, ext = os.path.splitext(path)
        self.tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(root)}.partial{ext}")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.size = tuple(int(v) for v in size)
        if codec.encoder == "libx264":
            import imageio_ffmpeg

            self.pipe = imageio_ffmpeg.write_frames(
                self.tmp, encoded_size(self.size), fps=float(fps), codec="libx264", pix_fmt_out="yuv420p",
                quality=None, macro_block_size=1, ffmpeg_log_level="error", output_params=X264_OPTIONS)
            self.pipe.send(None)
            self.writer = None
        else:
            self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*codec.fourcc), float(fps),
                                          encoded_size(self.size))
            if not self.writer.isOpened():
                raise LocalstyleError(f"{path}: cannot open a {codec.fourcc} video writer")
        self.frames = 0

    def write(self, rgb):
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            raise LocalstyleError(f"{self.path}: frame is {rgb.shape[1]}x{rgb.shape[0]}, video is "
                                  f"{self.size[0]}x{self.size[1]}")
        rgb = pad_to_even(rgb)
        if self.writer is None:
            self.pipe.send(np.ascontiguousarray(rgb))
        else:
            self.writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
        self.frames += 1

    def _release(self):
        if self.writer is None:
            self.pipe.close()
        else:
            self.writer.release()

    def close(self):
        """Finish the file and move it into place."""
        self._release()
        os.replace(self.tmp, self.path)

    def abort(self):
        """Drop the temporary file."""
        self._release()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp)


def read_frames(path):
    """Yield the RGB frames of the video file ``path``."""
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame[:, :, ::-1]
    finally:
        cap.release()


def join_videos(parts, path, fps, size, codec):
    """Write the video files ``parts`` (same codec and size) one after the other into ``path`` atomically.

    With FFmpeg the streams are copied (no re-encoding: every frame stays bit for bit what its part holds);
    without it the parts are decoded and encoded once more with ``codec`` (OpenCV).
    """
    exe = ffmpeg_exe()
    with atomic_path(path) as tmp:
        if exe is None:
            writer = AtomicVideoWriter(tmp, fps, encoded_size(size), codec)
            for part in parts:
                for rgb in read_frames(part):
                    writer.write(rgb)
            writer.close()
            return
        listing = tmp + ".txt"
        with open(listing, "w", encoding="utf-8") as f:
            for part in parts:
                escaped = os.path.abspath(part).replace("'", "'\\''")
                f.write(f"file '{escaped}'\n")
        try:
            done = subprocess.run([exe, "-y", "-hide_banner", "-loglevel", "error", "-f", "concat", "-safe", "0",
                                   "-i", listing, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", tmp],
                                  capture_output=True, text=True)
        finally:
            os.remove(listing)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise LocalstyleError(f"{path}: FFmpeg could not join {len(parts)} video segments ({last})")
