"""The drawing helper and tools/visualize_data.py / visualize_json_results.py on the real COCO images of
tests/data."""
import json

import numpy as np
import pytest
from PIL import Image

from engine_helpers import UNITTEST_CONFIG, load_script
from localstyle.data import resolve_dataset
from localstyle.utils.image_io import read_image
from localstyle.evaluation.visualizer import draw_instances, from_annotations, from_results

visualize_data = load_script("tools", "visualize_data.py")
visualize_json_results = load_script("tools", "visualize_json_results.py")
# (the training loader checks that the dataset's classes match MODEL.ROI_HEADS.NUM_CLASSES)
TRAIN = ["DATASETS.TRAIN", "('coco_tiny_person',)", "MODEL.ROI_HEADS.NUM_CLASSES", "1"]


def test_drawing_tints_masks_and_leaves_the_rest():
    _, dicts, meta = resolve_dataset("coco_tiny_person")
    record = next(d for d in dicts if len(d["annotations"]) >= 2)
    image = read_image(record["file_name"])
    instances = from_annotations(record["annotations"], *image.shape[:2])
    drawn = draw_instances(image, instances, meta.thing_classes)
    masks = np.stack(instances.masks)
    changed = (drawn != image).any(axis=2)
    assert changed[masks.any(axis=0)].mean() > 0.95  # every mask is tinted
    x0, y0, x1, y1 = instances.boxes.min(axis=0)[0], instances.boxes.min(axis=0)[1], *instances.boxes.max(axis=0)[2:]
    outside = np.ones_like(changed)
    outside[max(0, int(y0) - 20):int(y1) + 3, max(0, int(x0) - 3):int(x1) + 3] = False
    assert not changed[outside].any()  # nothing drawn away from the instances and their labels
    # the same objects as results (dataset category ids, RLE masks, scores) draw the same masks
    results = [{"image_id": record["image_id"], "category_id": 1, "bbox": list(np.asarray(a["bbox"], float)),
                "segmentation": a["segmentation"], "score": 0.5 + 0.1 * k} for k, a in enumerate(record["annotations"])]
    as_results = from_results(results, *image.shape[:2], meta.thing_dataset_id_to_contiguous_id)
    assert as_results.labels(meta.thing_classes)[0] == "person 0.50"
    assert np.array_equal(np.stack(as_results.masks), masks) and len(as_results.above(0.55)) == len(results) - 1


@pytest.mark.parametrize("source", ["annotation", "dataloader"])
def test_visualize_data(source, tmp_path):
    visualize_data.main(["--config-file", UNITTEST_CONFIG, "--source", source, "--output-dir", str(tmp_path),
                         "--num-images", "3", *TRAIN, "DATALOADER.NUM_WORKERS", "0"])
    pictures = sorted(tmp_path.iterdir())
    assert len(pictures) == 3
    _, dicts, _ = resolve_dataset("coco_tiny_person")
    sizes = {d["file_name"].rsplit("/", 1)[-1][:-4]: (d["width"], d["height"]) for d in dicts}
    for picture in pictures:
        size = Image.open(picture).size
        original = sizes[picture.name[5:-4]]
        if source == "annotation":
            assert size == original
        else:  # resized as the unit-test config trains: shorter side 96, longer side at most 128
            assert min(size) == 96 or max(size) == 128
            assert size[0] / size[1] == pytest.approx(original[0] / original[1], rel=0.03)


def test_visualize_json_results(person_run, tmp_path):
    results = person_run / "inference" / "coco_instances_results.json"
    visualize_json_results.main(["--input", str(results), "--output", str(tmp_path), "--dataset",
                                 "lizhogn_tiny_person", "--conf-threshold", "0", "--num-images", "2"])
    _, dicts, _ = resolve_dataset("lizhogn_tiny_person")
    for d in dicts[:2]:
        picture = Image.open(tmp_path / (d["file_name"].rsplit("/", 1)[-1][:-4] + ".jpg"))
        caption = max(20, round(d["height"] / 18))  # the caption band grows with the picture
        assert picture.size == (2 * d["width"] + 4, d["height"] + caption)  # ground truth | predictions
    assert len(json.loads(results.read_text())) > 0
