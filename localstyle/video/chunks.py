"""Finished chunks of a clip on disk, so an interrupted run resumes after the last one.

Chunk ``k`` of clip ``<stem>`` lives in ``<output>/.<stem>_chunks/``: its output and mask frames as short
videos ``chunk_XXXXX_{out,mask}.mp4`` (in the output codec), the temporal state after its last frame
``chunk_XXXXX.npz`` (plain arrays, loaded without pickle; only the last one is kept) and
``chunk_XXXXX.json`` (per-frame records, state description and the settings fingerprint). Every file is
written atomically and the JSON last, so a chunk with a JSON is complete. A resumed run re-encodes the
finished chunks into the final files.
"""
import contextlib
import json
import os
import shutil

import cv2
import numpy as np

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open, atomic_write_json
from localstyle.video.writer import AtomicVideoWriter

KINDS = ("out", "mask")


class ChunkStore:
    """The chunk folder of one clip: write chunks, find the finished ones, read their frames back."""

    def __init__(self, output_dir, stem, fps, size, codec):
        self.dir = os.path.join(output_dir, f".{stem}_chunks")
        self.fps, self.size, self.codec = fps, size, codec

    def _base(self, k):
        return os.path.join(self.dir, f"chunk_{k:05d}")

    def video_path(self, k, kind):
        return f"{self._base(k)}_{kind}.mp4"

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
        """Writers for chunk ``k``'s output and mask (grey as RGB) videos."""
        return {kind: AtomicVideoWriter(self.video_path(k, kind), self.fps, self.size, self.codec) for kind in KINDS}

    def finish(self, k, writers, record, arrays):
        """Close chunk ``k``'s videos, save its state arrays, then its JSON record (the completion mark)."""
        for w in writers.values():
            w.close()
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

    def frames(self, k, kind):
        """Yield the RGB frames of chunk ``k``'s ``kind`` video."""
        cap = cv2.VideoCapture(self.video_path(k, kind))
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield frame[:, :, ::-1]
        finally:
            cap.release()

    def clear(self):
        """Delete every chunk file of this clip."""
        shutil.rmtree(self.dir, ignore_errors=True)
