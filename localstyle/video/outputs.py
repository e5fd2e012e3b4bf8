"""The files a user looks at: ``<stem>.mp4``, ``<stem>_mask.mp4``, ``<stem>_compare.mp4`` (original |
stylized) and ``<stem>_strip.jpg`` (key frames, original over stylized)."""
import os

import numpy as np

from localstyle.compose import captioned_row
from localstyle.utils.image_io import write_image
from localstyle.video.writer import AtomicVideoWriter


def output_paths(output_dir, stem):
    """Final output paths of clip ``stem``: ``{"out", "mask", "compare", "strip"}``."""
    base = os.path.join(output_dir, stem)
    return {"out": base + ".mp4", "mask": base + "_mask.mp4", "compare": base + "_compare.mp4",
            "strip": base + "_strip.jpg"}


def key_frame_strip(pairs, height=180, gap=4):
    """``pairs`` of (frame index, compare frame = original | stylized) -> one picture, a column per key frame."""
    panels = []
    for _, compare in pairs:
        w = compare.shape[1] // 2
        panels.append(np.concatenate([compare[:, :w], np.full((gap, w, 3), 255, np.uint8), compare[:, w:]]))
    return captioned_row(panels, [f"frame {index}" for index, _ in pairs], 2 * height + gap, gap)


def key_frame_indices(num_frames, count, chunk_size):
    """``count`` frame indices spread over the clip (unknown length: the first frame of the first chunks)."""
    if not num_frames:
        return set(range(0, count * chunk_size, chunk_size))
    return set(np.linspace(0, num_frames - 1, max(1, min(count, num_frames))).round().astype(int).tolist())


class ClipOutputs:
    """The three mp4 files of a clip, written frame by frame, and the key-frame strip."""

    def __init__(self, paths, codec, fps, size, key_frames):
        w, h = size
        self.paths, self.key_frames, self.keys = paths, key_frames, []
        self.writers = {kind: AtomicVideoWriter(paths[kind], fps, (2 * w if kind == "compare" else w, h), codec)
                        for kind in ("out", "mask", "compare")}

    def add(self, index, original, outcome, mask_rgb):
        compare = np.concatenate([original, outcome], axis=1)
        self.writers["out"].write(outcome)
        self.writers["mask"].write(mask_rgb)
        self.writers["compare"].write(compare)
        if index in self.key_frames:
            self.keys.append((index, compare))

    def close(self):
        """Finish the videos (moved into place) and write the strip."""
        for w in self.writers.values():
            w.close()
        if self.keys:
            write_image(self.paths["strip"], key_frame_strip(self.keys))

    def abort(self):
        for w in self.writers.values():
            w.abort()
