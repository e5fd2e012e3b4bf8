"""The files a user looks at: ``<stem>.mp4``, ``<stem>_mask.mp4``, ``<stem>_compare.mp4`` (original |
stylized) and ``<stem>_strip.jpg`` (key frames, original over stylized). The videos are joined from the chunks'
segments (:mod:`localstyle.video.chunks`)."""
import os

import numpy as np

from localstyle.compose import captioned_row


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
