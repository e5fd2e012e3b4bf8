#!/usr/bin/env python
"""Write the shipped person model's train / held-out COCO files from the COCO train2017 photos in the repository.

    python datasets/make_person_split.py [--output datasets/person_model]

train: every image of tests/data/coco_dev/coco_tiny_train2017 except the photos in assets/photos (the README's
pictures are made on photos the model never saw); heldout: lizhogn_tiny_coco_train2017 minus assets/photos and
minus every image that is also in train. Both keep all 80 COCO categories (images without people are negatives);
``file_name`` is relative to tests/data/coco_dev. No COCO val2017 image is used anywhere. Prints each file's
person pixel share (crowd regions left out): the model config's MODEL.SEM_SEG_HEAD.TRAIN_CLASS_PRIOR.
"""
import json
import os

import numpy as np

from localstyle.utils.cli import argument_parser
from localstyle.utils.errors import cli_errors
from localstyle.utils.file_io import atomic_open

ROOT = os.path.join("tests", "data", "coco_dev")
TRAIN, HELDOUT = "coco_tiny_train2017", "lizhogn_tiny_coco_train2017"
ASSET_ANNOTATIONS = os.path.join("assets", "photos", "annotations", "instances_photos.json")


def _load(name):
    with open(os.path.join(ROOT, name, "annotations", "instances_train2017.json")) as f:
        return json.load(f)


def subset(coco, folder, exclude_ids):
    """``coco`` without the images in ``exclude_ids`` (and their annotations), file names prefixed by folder."""
    images = [dict(im, file_name=f"{folder}/train2017/{im['file_name']}") for im in coco["images"]
              if im["id"] not in exclude_ids]
    kept = {im["id"] for im in images}
    return {"info": coco.get("info", {}), "licenses": coco.get("licenses", []), "categories": coco["categories"],
            "images": images, "annotations": [a for a in coco["annotations"] if a["image_id"] in kept]}


def person_share(coco):
    """Share of all pixels of ``coco``'s images covered by (non-crowd) person annotations."""
    from localstyle.data.annotations import segmentation_to_mask

    sizes = {im["id"]: (im["height"], im["width"]) for im in coco["images"]}
    covered = {i: np.zeros(hw, bool) for i, hw in sizes.items()}
    for a in coco["annotations"]:
        if a["category_id"] == 1 and not a["iscrowd"]:
            covered[a["image_id"]] |= segmentation_to_mask(a["segmentation"], *sizes[a["image_id"]]).astype(bool)
    return sum(int(m.sum()) for m in covered.values()) / sum(h * w for h, w in sizes.values())


def build_parser():
    p = argument_parser(__doc__)
    p.add_argument("--output", default=os.path.join("datasets", "person_model"), metavar="DIR")
    return p


@cli_errors
def main(argv=None):
    args = build_parser().parse_args(argv)
    with open(ASSET_ANNOTATIONS) as f:
        assets = {im["id"] for im in json.load(f)["images"]}
    train = subset(_load(TRAIN), TRAIN, assets)
    train_ids = {im["id"] for im in train["images"]}
    heldout = subset(_load(HELDOUT), HELDOUT, assets | train_ids)
    os.makedirs(args.output, exist_ok=True)
    for name, coco in (("person_train.json", train), ("person_heldout.json", heldout)):
        with atomic_open(os.path.join(args.output, name), "w") as f:
            json.dump(coco, f)
        people = len({a["image_id"] for a in coco["annotations"] if a["category_id"] == 1 and not a["iscrowd"]})
        print(f"{name}: {len(coco['images'])} images, {people} with people, person pixel share "
              f"{person_share(coco):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
