"""A generated clip with known motion and known masks: textured people walking over a panned textured scene.

Everything moves by whole pixels per frame (the camera pans by ``pan`` px, each person walks by its own
integer velocity), so the ground-truth motion between frames is exact: a pixel of person ``i`` at ``x`` in
frame ``t`` was at ``x - (velocity_i - pan)`` in frame ``t - 1``. People are rigid sprites (the stick
figures of :mod:`localstyle.data.synthetic`) with their own texture; later people occlude earlier ones and
the masks are the visible parts. :func:`write_synthetic_clip` saves a clip as an mp4, a folder of PNG frames
and a COCO annotation file (``image_id`` = frame index) for ``MASKS.SOURCE annotations``.
:class:`PhotoPanClip` is the same for a camera panning across a real photo with its annotated people.
"""
import colorsys
import dataclasses
import os

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from tqdm import tqdm

from localstyle.data.synthetic import CATEGORIES, person_polygons
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_write_json
from localstyle.utils.image_io import write_image


@dataclasses.dataclass
class Walker:
    """One person: sprite (RGB + mask), screen position of its top-left corner at frame 0, velocity in the world."""

    sprite: np.ndarray
    mask: np.ndarray
    x0: int
    y0: int
    vx: int
    vy: int


def _texture(h, w, rng, scales, base, chroma):
    """Multi-scale noise around colour ``base`` (uint8 RGB): detail everywhere, for optical flow.

    ``chroma`` scales the per-channel part of the noise (0: grey-level texture only).
    """
    out = np.zeros((h, w, 3), np.float32)
    for s in scales:
        noise = rng.normal(0, 1, (h // s + 2, w // s + 2, 3)).astype(np.float32)
        noise = noise.mean(-1, keepdims=True) * (1 - chroma) + noise * chroma
        out += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w] * (45 / len(scales) ** 0.5)
    return np.clip(out + np.asarray(base, np.float32), 0, 255).astype(np.uint8)


def _walker(height, frame_w, frame_h, num_frames, pan, rng):
    h = int(height)
    w = int(0.6 * h)
    mask = np.zeros((h, w), np.uint8)
    for poly in person_polygons(w / 2, 1, h - 2, rng):
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    base = np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.85))) * 255
    sprite = _texture(h, w, rng, (2, 5), base, chroma=0.3)
    vx = int(rng.choice([-3, -2, -1, 1, 2, 3]))
    travel, span = (vx - pan) * (num_frames - 1), frame_w - w
    lo, hi = max(0, -travel), min(span, span - travel)  # starts that keep the person in view all along
    x_start = int(rng.integers(lo, hi + 1)) if lo <= hi else (span - travel) // 2
    y0 = int(rng.integers(0, max(1, frame_h - h)))
    return Walker(sprite, mask.astype(bool), x_start, y0, vx, int(rng.choice([-1, 0, 0, 1])))


class SyntheticClip:
    """``num_frames`` frames of ``width`` x ``height``; ``frame(t)`` -> (RGB uint8, visible masks N x H x W bool)."""

    def __init__(self, width=640, height=360, num_frames=48, fps=24.0, num_people=3, pan=2, seed=0):
        rng = np.random.default_rng(seed)
        self.width, self.height, self.num_frames, self.fps, self.pan = width, height, num_frames, fps, abs(int(pan))
        base = np.array(colorsys.hsv_to_rgb(rng.uniform(), 0.25, 0.55)) * 255
        self.scene = _texture(height + 8, width + self.pan * num_frames + 8, rng, (3, 12, 40), base, chroma=0.4)
        self.people = [_walker(rng.uniform(0.45, 0.8) * height, width, height, num_frames, self.pan, rng)
                       for _ in range(num_people)]

    def motion(self, i):
        """Ground-truth screen motion (dx, dy) per frame of person ``i`` (background: ``(-pan, 0)``)."""
        p = self.people[i]
        return p.vx - self.pan, p.vy

    def frame(self, t):
        """Frame ``t``: the RGB image and the visible mask of every person (occlusion applied)."""
        cam = self.pan * t
        image = self.scene[4:4 + self.height, cam:cam + self.width].copy()
        masks = np.zeros((len(self.people), self.height, self.width), bool)
        for i, p in enumerate(self.people):
            dx, dy = self.motion(i)
            x, y = p.x0 + dx * t, p.y0 + dy * t
            sh, sw = p.mask.shape
            x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + sw, self.width), min(y + sh, self.height)
            if x1 <= x0 or y1 <= y0:
                continue
            m = p.mask[y0 - y:y1 - y, x0 - x:x1 - x]
            image[y0:y1, x0:x1][m] = p.sprite[y0 - y:y1 - y, x0 - x:x1 - x][m]
            masks[:i, y0:y1, x0:x1] &= ~m  # nearer people hide earlier ones
            masks[i, y0:y1, x0:x1] = m
        return image, masks

    def frames(self):
        """Yield ``(image, masks)`` for every frame."""
        for t in range(self.num_frames):
            yield self.frame(t)


class PhotoPanClip:
    """A camera panning across a real photo with its true person masks: ``num_frames`` windows of
    ``width`` x ``height`` sliding from the photo's left edge to its right (vertically centred).

    ``image``: RGB uint8 photo; ``masks``: its people's masks (N x H x W bool). Same interface as
    :class:`SyntheticClip` (``frame(t)``, ``frames()``), so :func:`write_synthetic_clip` saves it.
    """

    def __init__(self, image, masks, width, height, num_frames=48, fps=24.0):
        h, w = image.shape[:2]
        if width > w or height > h:
            raise LocalstyleError(f"the clip ({width}x{height}) must fit in the photo ({w}x{h})")
        self.image, self.masks = image, np.asarray(masks, bool)
        self.width, self.height, self.num_frames, self.fps = width, height, num_frames, fps

    def frame(self, t):
        """Frame ``t``: the window of the photo and the people's masks in it."""
        x = round(t * (self.image.shape[1] - self.width) / max(self.num_frames - 1, 1))
        y = (self.image.shape[0] - self.height) // 2
        window = (slice(y, y + self.height), slice(x, x + self.width))
        return self.image[window].copy(), self.masks[(slice(None), *window)]

    def frames(self):
        """Yield ``(image, masks)`` for every frame."""
        for t in range(self.num_frames):
            yield self.frame(t)


def tiny_clip(seed=0):
    """A 96 x 64, 12-frame, 2-person clip for tests."""
    return SyntheticClip(width=96, height=64, num_frames=12, fps=12.0, num_people=2, pan=1, seed=seed)


def write_synthetic_clip(clip, out_dir, name="clip"):
    """Save ``clip`` as ``<name>.mp4``, ``<name>_frames/frame_XXXXXX.png`` and ``<name>_annotations.json``.

    The COCO file has one image per frame (``image_id`` = frame index, so frames read from the mp4 match
    by number) and one ``person`` annotation (compressed RLE) per visible person. Returns the three paths.
    """
    from localstyle.video.writer import AtomicVideoWriter, Codec

    os.makedirs(out_dir, exist_ok=True)
    video = os.path.join(out_dir, f"{name}.mp4")
    frames_dir = os.path.join(out_dir, f"{name}_frames")
    writer = AtomicVideoWriter(video, clip.fps, (clip.width, clip.height), Codec("mp4v", "opencv"))
    images, annotations = [], []
    for t, (image, masks) in enumerate(tqdm(clip.frames(), total=clip.num_frames, desc="synthetic clip")):
        file_name = f"frame_{t:06d}.png"
        write_image(os.path.join(frames_dir, file_name), image)
        writer.write(image)
        images.append({"id": t, "file_name": file_name, "height": clip.height, "width": clip.width})
        for i, m in enumerate(masks):
            if m.sum() < 4:
                continue
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            x, y, w, h = mask_utils.toBbox(rle).tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": t, "category_id": 1, "iscrowd": 0,
                                "bbox": [x, y, w, h], "area": float(m.sum()), "track_id": i,
                                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode("ascii")}})
    writer.close()
    ann_path = os.path.join(out_dir, f"{name}_annotations.json")
    atomic_write_json(ann_path, {"images": images, "annotations": annotations, "categories": CATEGORIES[:1]})
    return video, frames_dir, ann_path
