"""tools/make_readme_figure.py: its command line and the before | after layout (the stylize run itself needs the
shipped person model and is what `python tools/make_readme_figure.py` does)."""
import numpy as np

from engine_helpers import load_script
from localstyle.utils.image_io import read_image

figure = load_script("tools", "make_readme_figure.py")


def test_defaults_name_the_person_config_and_shipped_photos():
    args = figure.build_parser().parse_args(["--width", "800", "STYLE.STRENGTH", "0.5"])
    assert args.config_file == "configs/stylize/person_default.yaml"
    assert args.output == "docs/images/readme_before_after.jpg" and args.width == 800
    assert args.opts == ["STYLE.STRENGTH", "0.5"] and len(args.photos) >= 2


def test_grid_rows_fill_the_width_and_keep_the_photos():
    photo = read_image("assets/photos/skimage_astronaut.png")  # 512 x 512
    wide = np.zeros((100, 300, 3), np.uint8)
    grid = figure.before_after_grid([(photo, photo), (wide, wide), (photo, wide)], width=600, columns=2)
    assert grid.shape[1] == 600 and grid.dtype == np.uint8
    # row 1: two squares and two 3:1 panels, 3 gaps of 4 px -> height (600 - 12) / 8 = 73.5
    assert grid.shape[0] == 74 + 4 + round((600 - 4) / 4)
    assert grid[60, 20].any()  # a photo pixel below the label box, not the white background
