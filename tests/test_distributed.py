"""Two CPU processes over gloo (localstyle.engine.launch + DDP): identical weights on both ranks, a global batch of
SOLVER.IMS_PER_BATCH split across ranks, and the same images per iteration as a single-process run."""
import json
import os

import torch

from engine_helpers import UNITTEST_CONFIG, make_tiny_synthetic
from localstyle.config import load_config
from localstyle.engine.defaults import default_setup
from localstyle.engine.launch import find_free_port, launch
from localstyle.engine.trainer import Trainer
from localstyle.utils import comm

ITERS = 4


def _cfg(opts):
    cfg = load_config(UNITTEST_CONFIG, opts)
    cfg.freeze()
    return cfg


def _image_ids(cfg, iterations):
    from localstyle.data import register_datasets_from_cfg
    from localstyle.data.build import build_detection_train_loader

    register_datasets_from_cfg(cfg)
    loader = iter(build_detection_train_loader(cfg))
    return [[d["image_id"] for d in next(loader)] for _ in range(iterations)]


def _worker(opts, record_dir):
    torch.set_num_threads(1)
    cfg = _cfg(opts)
    default_setup(cfg)
    ids = _image_ids(cfg, ITERS)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    initial = {k: v.detach().clone() for k, v in trainer.model.module.named_parameters()}
    trainer.train()
    rank = comm.get_rank()
    params = {k: v.detach().clone() for k, v in trainer.model.module.named_parameters()}
    changed = sum(not torch.equal(initial[k], v) for k, v in params.items())
    torch.save({"params": params, "ids": ids, "world": comm.get_world_size(), "changed": changed},
               os.path.join(record_dir, f"rank{rank}.pth"))


def test_two_gloo_processes_train_in_lockstep(tmp_path):
    opts = make_tiny_synthetic(tmp_path / "data", name="dist") + [
        "DATASETS.TEST", "()", "OUTPUT_DIR", str(tmp_path / "out"), "SOLVER.MAX_ITER", str(ITERS),
        "SOLVER.CHECKPOINT_PERIOD", "0"]
    launch(_worker, 2, dist_url="auto", args=(opts, str(tmp_path)))
    r0 = torch.load(tmp_path / "rank0.pth", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pth", weights_only=True)
    assert r0["world"] == r1["world"] == 2
    # gradients are all-reduced: both replicas end with the same parameters, and they did change
    assert r0["params"].keys() == r1["params"].keys()
    assert all(torch.equal(r0["params"][k], r1["params"][k]) for k in r0["params"])
    assert r0["changed"] > len(r0["params"]) // 2
    # per-rank batch = IMS_PER_BATCH / world; the logged global batch is IMS_PER_BATCH
    assert all(len(b) == 1 for b in r0["ids"] + r1["ids"])
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.json").read_text().splitlines()]
    assert lines[-1]["iteration"] == ITERS - 1 and lines[-1]["images"] == 2
    # together the ranks see exactly the images a single process sees at each iteration
    single = _image_ids(_cfg(opts), ITERS)
    assert [sorted(a + b) for a, b in zip(r0["ids"], r1["ids"])] == [sorted(s) for s in single]
    assert (tmp_path / "out" / "model_final.pth").exists() and (tmp_path / "out" / "log.txt.rank1").exists()


def _record_group(record_dir):
    with open(os.path.join(record_dir, "group.json"), "w") as f:
        json.dump({"initialized": torch.distributed.is_initialized(), "world": comm.get_world_size(),
                   "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None}, f)


def test_explicit_dist_url_makes_a_process_group_for_one_process(tmp_path):
    launch(_record_group, 1, dist_url=f"tcp://127.0.0.1:{find_free_port()}", args=(str(tmp_path),))
    assert json.loads((tmp_path / "group.json").read_text()) == {"initialized": True, "world": 1, "backend": "gloo"}
    launch(_record_group, 1, dist_url="auto", args=(str(tmp_path),))  # the default: one process, no group
    assert json.loads((tmp_path / "group.json").read_text())["initialized"] is False
