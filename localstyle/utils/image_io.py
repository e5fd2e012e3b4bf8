"""Reading and writing images: EXIF orientation applied, any mode converted, clear errors."""
import hashlib
import os

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.file_io import atomic_open

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def image_digest(image):
    """Cache key of an image array: a hash of its shape and bytes."""
    image = np.ascontiguousarray(image)
    return hashlib.sha1(repr(image.shape).encode() + image.tobytes()).hexdigest()


def list_image_files(folder, recursive=False, extensions=IMAGE_EXTENSIONS):
    """The image files of ``folder`` (by extension, hidden files left out), sorted by path; with ``recursive``
    also those of its subfolders (hidden folders left out). ``extensions`` may add others (videos)."""
    if not recursive:
        return [os.path.join(folder, f) for f in sorted(os.listdir(folder))
                if f.lower().endswith(extensions) and not f.startswith(".")]
    paths = []
    for root, dirs, _ in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        paths += list_image_files(root, extensions=extensions)
    return sorted(paths)


def read_image(path, format="RGB"):
    """Read ``path`` as an H x W x 3 uint8 array in ``format`` ("RGB" or "BGR").

    EXIF orientation is applied; grayscale, palette and CMYK images are converted. 16-bit images are scaled
    to 8 bits (65535 -> 255), 32-bit float ones from 0..1. The alpha channel of RGBA / LA images is dropped
    and the colours under it are kept (not composited), as detectron2's ``read_image`` does. Raises
    :class:`LocalstyleError` naming the file if it is missing, cannot be decoded or is over PIL's
    decompression-bomb limit.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise LocalstyleError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
            image = _to_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise LocalstyleError(f"{path}: cannot decode image ({e})") from None
    if format == "BGR":
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # the channel swap, faster than a reversed-view copy
    elif format != "RGB":
        raise LocalstyleError(f"{path}: unsupported image format {format!r} (use RGB or BGR)")
    return image


def _to_rgb(im):
    """A writable H x W x 3 uint8 copy of a PIL image of any mode; high-bit-depth modes are scaled, not clipped."""
    if im.mode.startswith("I;16") or im.mode == "I":
        gray = np.asarray(im, dtype=np.float64) / 257.0
    elif im.mode == "F":
        gray = np.asarray(im, dtype=np.float64) * 255.0
    else:
        return np.array(im if im.mode == "RGB" else im.convert("RGB"))
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def resize_image(image, height, width, interpolation=None, upscale=cv2.INTER_CUBIC):
    """Resize an H x W (x C) array (uint8 or float32) to ``height`` x ``width``.

    Area filtering when shrinking and ``upscale`` (cubic) when growing, unless ``interpolation`` (a cv2 flag)
    fixes one filter for both.
    """
    if image.shape[:2] == (height, width):
        return image
    if interpolation is None:
        interpolation = cv2.INTER_AREA if height * width < image.shape[0] * image.shape[1] else upscale
    out = cv2.resize(image, (width, height), interpolation=interpolation)
    return out.reshape(height, width, *image.shape[2:])


def resize_longest(image, size):
    """Resize an image so its longest side is ``size`` (0: unchanged), with :func:`resize_image`."""
    h, w = image.shape[:2]
    if not size or max(h, w) == size:
        return image
    scale = size / max(h, w)
    return resize_image(image, max(1, round(h * scale)), max(1, round(w * scale)))


def write_image(path, image, format="RGB", quality=95):
    """Atomically write an H x W x 3 (or H x W) uint8 array; the file type follows the extension."""
    image = np.asarray(image)
    if image.ndim == 3 and format == "BGR":
        image = image[:, :, ::-1]
    ext = os.path.splitext(path)[1].lower()
    kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}.get(ext)
    if kind is None:
        raise LocalstyleError(f"{path}: unsupported output image extension {ext!r}")
    # PNG: zlib level 1 encodes several times faster than Pillow's default 6, for files ~10-20% larger
    kwargs = {"quality": quality} if kind == "JPEG" else {"compress_level": 1} if kind == "PNG" else {}
    with atomic_open(path, "wb") as f:
        Image.fromarray(np.ascontiguousarray(image)).save(f, format=kind, **kwargs)
