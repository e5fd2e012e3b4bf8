"""Shared by the engine tests: a tiny synthetic COCO set and the unit-test config overrides that use it."""
import importlib.util
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITTEST_CONFIG = os.path.join(REPO, "configs", "tiny", "mask_rcnn_R_50_FPN_unittest.yaml")


def make_tiny_synthetic(root, name="mine", num_train=8, num_val=3, size=96):
    """Generate the synthetic set under ``root``; returns the ``KEY VALUE`` opts registering it as
    ``{name}_train`` / ``{name}_val`` (names are process-wide: one per test module) and training / testing on them."""
    from localstyle.data.synthetic import make_synthetic

    jsons = make_synthetic(str(root), num_train, num_val, size, seed=0)
    entries = [[f"{name}_{s}", jsons[s], os.path.join(str(root), s)] for s in ("train", "val")]
    return ["DATASETS.REGISTER_COCO", repr(entries), "DATASETS.TRAIN", f"('{name}_train',)",
            "DATASETS.TEST", f"('{name}_val',)"]


def train_net_command(*args):
    return [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", UNITTEST_CONFIG, *args]


def cli_env():
    """One OpenMP thread per process: deterministic and fast on shared CPUs."""
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)


def run_train_net(*args, check=True):
    proc = subprocess.run(train_net_command(*args), env=cli_env(), capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"train_net.py failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def person_run_opts():
    """The unit-test model trained on real COCO person annotations (tests/data), as the person_run fixture runs it;
    train_net.py registers the person sets that tests/conftest.py registered here, under the same names."""
    from localstyle.data import MetadataCatalog

    names = ("coco_tiny_person", "lizhogn_tiny_person")
    entries = [[n, MetadataCatalog.get(n).json_file, MetadataCatalog.get(n).image_root] for n in names]
    return ["DATASETS.REGISTER_COCO", repr(entries), "DATASETS.TRAIN", f"('{names[0]}',)",
            "DATASETS.TEST", f"('{names[1]}',)", "MODEL.ROI_HEADS.NUM_CLASSES", "1", "SOLVER.MAX_ITER", "4",
            "TEST.EVAL_PERIOD", "2", "SOLVER.CHECKPOINT_PERIOD", "100"]


def load_script(*parts):
    """Import a command-line script of the repository (e.g. ``"tools", "ap_report.py"``) as a module."""
    spec = importlib.util.spec_from_file_location(parts[-1][:-3], os.path.join(REPO, *parts))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


D2_FIXTURES = os.path.join(REPO, "tests", "fixtures", "detectron2")


def thin_r50_cfg(weights="thin_r50_fpn.pth", thresh=0.05, *opts):
    """Config of detectron2's thin R50-FPN fixture (tests/fixtures/detectron2) with ``weights`` and a score threshold."""
    from localstyle.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(os.path.join(D2_FIXTURES, "thin_r50_fpn.yaml"))
    cfg.MODEL.WEIGHTS = os.path.join(D2_FIXTURES, weights)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = thresh
    cfg.merge_from_list(list(opts))
    return cfg
