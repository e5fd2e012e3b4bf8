"""Video frames in: a video file, a folder of frames, or a camera index, streamed as RGB uint8 frames.

Every source is opened by :func:`open_video` and yields ``(index, label, rgb)`` from ``frames(start)``;
``label`` names the frame for mask sources that look frames up by file name (a frame-folder file, or
``<stem>_<index>.png`` whose trailing number is the frame index). Problems are one-line
:class:`LocalstyleError` messages naming the input.
"""
import dataclasses
import os

import cv2

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import list_image_files, read_image
from localstyle.video.writer import quiet_stderr

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif")


def is_video_input(spec):
    """Whether ``--input spec`` names a video: a camera index or a path with a video extension."""
    return str(spec).isdigit() or (not os.path.isdir(spec) and str(spec).lower().endswith(VIDEO_EXTENSIONS))


@dataclasses.dataclass
class VideoInfo:
    """What a source says about itself; ``num_frames`` is None for a camera (unknown length)."""

    source: str
    stem: str
    fps: float
    width: int
    height: int
    num_frames: int = None


class _CaptureReader:
    """Frames of a video file or camera through ``cv2.VideoCapture``."""

    def __init__(self, spec, default_fps):
        camera = str(spec).isdigit()
        if not camera and not os.path.isfile(spec):
            raise LocalstyleError(f"{spec}: video file not found")
        with quiet_stderr():  # our one-line error replaces OpenCV's and FFmpeg's warnings
            self.cap = cv2.VideoCapture(int(spec) if camera else spec)
            ok, first = self.cap.read() if self.cap.isOpened() else (False, None)
        if not ok:
            what = f"camera {spec}" if camera else spec
            raise LocalstyleError(f"{what}: cannot read video (OpenCV cannot open or decode it)")
        self._first = first
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        count = None if camera else int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        stem = f"camera{spec}" if camera else os.path.splitext(os.path.basename(spec))[0]
        self.info = VideoInfo(str(spec), stem, fps if 0 < fps < 1000 else float(default_fps),
                              first.shape[1], first.shape[0], count)

    def frames(self, start=0):
        """Yield ``(index, label, rgb)`` from frame ``start`` on (earlier frames are decoded and dropped)."""
        index, frame = 0, self._first
        while frame is not None:
            if index >= start:
                yield index, f"{self.info.stem}_{index:06d}.png", frame[:, :, ::-1].copy()
            ok, frame = self.cap.read()
            frame = frame if ok else None
            index += 1

    def close(self):
        self.cap.release()


class _FolderReader:
    """Frames stored as image files in a folder, in file-name order."""

    def __init__(self, folder, default_fps):
        self.paths = list_image_files(folder)
        if not self.paths:
            raise LocalstyleError(f"{folder}: no frames (image files) in this folder")
        h, w = read_image(self.paths[0]).shape[:2]
        self.info = VideoInfo(folder, os.path.basename(os.path.normpath(folder)), float(default_fps), w, h,
                              len(self.paths))

    def frames(self, start=0):
        for index in range(start, len(self.paths)):
            rgb = read_image(self.paths[index])
            if rgb.shape[:2] != (self.info.height, self.info.width):
                raise LocalstyleError(f"{self.paths[index]}: frame is {rgb.shape[1]}x{rgb.shape[0]}, the first "
                                      f"frame is {self.info.width}x{self.info.height}")
            yield index, self.paths[index], rgb

    def close(self):
        pass


def open_video(spec, default_fps=30.0):
    """A reader for ``spec`` (video file, folder of frames, or camera index) with ``.info`` and ``.frames()``.

    ``default_fps`` is used for frame folders and for sources that do not report a frame rate.
    """
    spec = os.fspath(spec)
    if os.path.isdir(spec):
        return _FolderReader(spec, default_fps)
    return _CaptureReader(spec, default_fps)
