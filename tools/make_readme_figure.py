#!/usr/bin/env python
"""The README's before | after picture: run stylize_net.py with the default stylize config (the shipped person
model) on a few shipped photos and lay the originals and results out as a grid of before | after pairs.

    python tools/make_readme_figure.py
    python tools/make_readme_figure.py --photos assets/photos/skimage_astronaut.png --columns 1 \\
        --output output/figure.jpg STYLE.IMAGE assets/styles/munch_the_scream_1893.jpg

Writes --output (default docs/images/readme_before_after.jpg), --width pixels wide (each row exactly that wide,
every photo keeping its aspect ratio). Trailing KEY VALUE pairs override the stylize config. The default photos are
CC BY 2.0 or public domain, and the person model never saw them in training (see assets/PROVENANCE.md: credit the
photographers where the picture is published).
"""
import os
import subprocess
import sys
import tempfile

from localstyle.utils.cli import add_config_opts, argument_parser
from localstyle.utils.errors import LocalstyleError, cli_errors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PHOTOS = ["assets/photos/coco_train2017_000000060623.jpg", "assets/photos/coco_train2017_000000352257.jpg",
                  "assets/photos/skimage_astronaut.png", "assets/photos/matplotlib_grace_hopper.jpg"]


def build_parser():
    parser = argument_parser(__doc__)
    parser.add_argument("--config-file", default="configs/stylize/person_default.yaml", metavar="FILE",
                        help="stylize config (default: the shipped person model's)")
    parser.add_argument("--photos", nargs="+", default=DEFAULT_PHOTOS, metavar="IMAGE", help="photos to stylize")
    parser.add_argument("--output", default="docs/images/readme_before_after.jpg", help="the JPEG to write")
    parser.add_argument("--width", type=int, default=1600, help="width of the picture in pixels")
    parser.add_argument("--columns", type=int, default=2, help="before | after pairs per row")
    return add_config_opts(parser)


def _label(image, text):
    """``image`` with ``text`` in a white box at its top-left corner."""
    import cv2

    out = image.copy()
    scale = max(0.5, image.shape[0] / 500)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(out, (0, 0), (w + 10, h + base + 10), (255, 255, 255), -1)
    cv2.putText(out, text, (5, h + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def before_after_grid(pairs, width, columns=2, gap=4):
    """One RGB uint8 picture ``width`` pixels wide: the (before, after) ``pairs`` side by side, ``columns`` pairs
    per row, each row scaled to fill the width exactly (the last row too)."""
    import numpy as np

    from localstyle.utils.image_io import resize_image

    rows = []
    for start in range(0, len(pairs), columns):
        cells = [image for pair in pairs[start:start + columns] for image in pair]
        labels = ["before", "after"] * (len(cells) // 2)
        free = width - gap * (len(cells) - 1)
        height = round(free / sum(c.shape[1] / c.shape[0] for c in cells))
        widths = [round(height * c.shape[1] / c.shape[0]) for c in cells]
        widths[-1] += free - sum(widths)  # rounding: the row is exactly ``width`` wide
        row = np.full((height, width, 3), 255, np.uint8)
        x = 0
        for cell, w, label in zip(cells, widths, labels):
            row[:, x:x + w] = _label(resize_image(cell, height, w), label)
            x += w + gap
        rows.append(row)
    spacer = np.full((gap, width, 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, spacer)][:-1])


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    from localstyle.utils.image_io import read_image, write_image

    missing = [p for p in args.photos if not os.path.isfile(p)]
    if missing:
        raise LocalstyleError(f"{missing[0]}: photo not found")
    with tempfile.TemporaryDirectory() as tmp:
        photos, out = os.path.join(tmp, "photos"), os.path.join(tmp, "out")
        os.makedirs(photos)
        for p in args.photos:
            os.symlink(os.path.abspath(p), os.path.join(photos, os.path.basename(p)))
        run = subprocess.run([sys.executable, os.path.join(REPO, "stylize_net.py"), "--config-file", args.config_file,
                              "--input", photos, "--output", out, "STYLIZE.STRIP", "False", *args.opts])
        if run.returncode:
            raise LocalstyleError(f"{args.config_file}: stylize_net.py failed (exit {run.returncode}, see above)")
        pairs = [(read_image(p), read_image(os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".png")))
                 for p in args.photos]
    write_image(args.output, before_after_grid(pairs, args.width, args.columns), quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
