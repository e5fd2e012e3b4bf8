"""Finished chunks of a clip on disk: the pieces the final videos are joined from, and what a rerun resumes after.

Chunk ``k`` of clip ``<stem>`` lives in ``<output>/.<stem>_chunks/``: its output, mask and comparison frames
as video segments ``chunk_XXXXX_{out,mask,compare}.mp4`` (encoded once, in the output codec), its key frames
for the strip as lossless PNGs ``chunk_XXXXX_key_IIIIII.png``, the temporal state after its last frame
``chunk_XXXXX.npz`` (plain arrays, loaded without pickle; only the last one is kept) and ``chunk_XXXXX.json``
(per-frame records, state description and the settings fingerprint). Every file is written atomically and the
JSON last, so a chunk with a JSON is complete. When the clip ends, each kind's segments are joined into the
final video without re-encoding (:func:`~localstyle.video.writer.join_videos`): an interrupted and resumed
run gives the very frames of an uninterrupted one.
"""
import contextlib
import glob
import json
import os
import re
import shutil

import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, atomic_write_json
from localstyle.utils.image_io import read_image, write_image
from localstyle.video.writer import AtomicVideoWriter, join_videos

KINDS = ("out", "mask", "compare")


class ChunkStore:
    """The chunk folder of one clip: write chunks, find the finished ones, join them into the final videos."""

    def __init__(self, output_dir, stem, fps, size, codec):
        self.dir = os.path.join(output_dir, f".{stem}_chunks")
        self.fps, self.size, self.codec = fps, tuple(size), codec

    def _base(self, k):
        return os.path.join(self.dir, f"chunk_{k:05d}")

    def video_path(self, k, kind):
        return f"{self._base(k)}_{kind}.mp4"

    def frame_size(self, kind):
        """(width, height) of ``kind``'s frames (the comparison is original | stylized side by side)."""
        w, h = self.size
        return (2 * w, h) if kind == "compare" else (w, h)

    def finished(self, fingerprint):
        """Records of chunks 0, 1, ... that are complete and made with ``fingerprint`` (stops at the first gap)."""
        done = []
        while os.path.isfile(self._base(len(done)) + ".json"):
            try:
                with open(self._base(len(done)) + ".json", encoding="utf-8") as f:
                    record = json.load(f)
            except (OSError, ValueError):
                break
            if record.get("fingerprint") != fingerprint or not all(
                    os.path.isfile(self.video_path(len(done), kind)) for kind in KINDS):
                break
            done.append(record)
        return done

    def writers(self, k):
        """Writers for chunk ``k``'s output, mask (grey as RGB) and comparison segments."""
        return {kind: AtomicVideoWriter(self.video_path(k, kind), self.fps, self.frame_size(kind), self.codec)
                for kind in KINDS}

    def finish(self, k, writers, keys, record, arrays):
        """Close chunk ``k``'s segments, save its key frames ``keys`` (index, comparison frame), its state arrays,
        then its JSON record (the completion mark)."""
        for w in writers.values():
            w.close()
        for index, compare in keys:
            write_image(f"{self._base(k)}_key_{index:06d}.png", compare)
        with atomic_open(self._base(k) + ".npz", "wb") as f:
            np.savez(f, **arrays)
        atomic_write_json(self._base(k) + ".json", record)
        if k > 0:  # only the last state is ever loaded
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._base(k - 1) + ".npz")

    def load_arrays(self, k):
        """State arrays saved with chunk ``k``."""
        try:
            with np.load(self._base(k) + ".npz", allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError) as e:
            raise LocalstyleError(f"{self._base(k)}.npz: unreadable chunk state ({e})") from None

    def key_frames(self):
        """``(frame index, comparison frame)`` of every key frame saved, in frame order."""
        paths = sorted(glob.glob(os.path.join(glob.escape(self.dir), "chunk_*_key_*.png")))
        return [(int(re.search(r"_key_(\d+)\.png$", p).group(1)), read_image(p)) for p in paths]

    def join(self, count, paths):
        """Join the segments of chunks ``0 .. count - 1`` into ``paths[kind]`` for every kind."""
        for kind in KINDS:
            join_videos([self.video_path(k, kind) for k in range(count)], paths[kind], self.fps,
                        self.frame_size(kind), self.codec)

    def clear(self):
        """Delete every chunk file of this clip."""
        shutil.rmtree(self.dir, ignore_errors=True)
