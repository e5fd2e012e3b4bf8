"""A list of dataset dicts stored as one byte buffer, so that data-loader workers read it without copying.

A Python list of dicts is touched (reference counts) by every worker that reads it, which makes the forked
workers copy the pages they read: memory grows through the epoch, per worker. detectron2 avoids this by
serializing each dict into one numpy buffer plus an offset array (two objects, never written after the fork);
:class:`SerializedList` does the same. Only the dicts this process built are pickled, never a file's content.
"""
import pickle

import numpy as np


class SerializedList:
    """Read-only sequence equal to ``items`` (each item comes back as a fresh copy, by unpickling)."""

    def __init__(self, items):
        blobs = [np.frombuffer(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL), dtype=np.uint8) for x in items]
        self._ends = np.cumsum([len(b) for b in blobs], dtype=np.int64)
        self._buffer = np.concatenate(blobs) if blobs else np.zeros(0, dtype=np.uint8)

    def __len__(self):
        return len(self._ends)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"SerializedList index {index} out of range ({len(self)} items)")
        index = index % len(self)
        start = int(self._ends[index - 1]) if index > 0 else 0
        return pickle.loads(memoryview(self._buffer[start:int(self._ends[index])]))

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def nbytes(self):
        """Size of the serialized data in bytes."""
        return self._buffer.nbytes + self._ends.nbytes
