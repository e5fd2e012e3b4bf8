"""tools/submit.py: submitit's job environment mapped to ranks, requeue with --resume, and a real 2-task stylize job
through submitit's local executor (the SLURM path is the same job object)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import submitit

from localstyle.utils.errors import LocalstyleError
from localstyle.utils.submission import ScriptJob, check_command, torchrun_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(ROOT, "assets", "photos")


def _local_task_env(monkeypatch, rank, tasks):
    for key, value in {"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": "4242",
                       "SUBMITIT_LOCAL_NTASKS": str(tasks), "SUBMITIT_LOCAL_JOB_NUM_NODES": "1",
                       "SUBMITIT_LOCAL_NODEID": "0", "SUBMITIT_LOCAL_GLOBALID": str(rank),
                       "SUBMITIT_LOCAL_LOCALID": str(rank)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_job_environment_becomes_the_torchrun_environment(monkeypatch):
    envs = []
    for rank in range(2):
        _local_task_env(monkeypatch, rank, 2)
        envs.append(torchrun_env(submitit.JobEnvironment()))
    assert [(e["RANK"], e["LOCAL_RANK"], e["WORLD_SIZE"]) for e in envs] == [("0", "0", "2"), ("1", "1", "2")]
    assert envs[0]["MASTER_ADDR"] == envs[1]["MASTER_ADDR"] and envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"]
    assert envs[0]["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))


def test_requeue_resumes_training_and_reruns_stylization():
    train = ScriptJob(check_command(["train_net.py", "--config-file", "cfg.yaml", "OUTPUT_DIR", "out"]))
    again = train.checkpoint()
    assert isinstance(again, submitit.helpers.DelayedSubmission)
    assert again.function.command[1:] == ["--resume", "--config-file", "cfg.yaml", "OUTPUT_DIR", "out"]
    assert again.function.checkpoint().function.command == again.function.command  # --resume once
    stylize = ScriptJob(check_command(["stylize_net.py", "--input", "x"]))
    assert stylize.checkpoint().function.command == stylize.command  # the manifest says what is done
    with pytest.raises(LocalstyleError, match="expected train_net.py or stylize_net.py"):
        check_command(["rm", "-rf", "/"])


def test_local_cluster_runs_a_two_rank_stylize_job(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("coco_train2017_000000360452.jpg", "coco_train2017_000000352257.jpg"):
        shutil.copy(os.path.join(PHOTOS, name), inputs / name)
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "submit.py"), "--cluster", "local", "--tasks-per-node", "2",
           "--timeout", "10", "--job-dir", str(tmp_path / "jobs"), "--", "stylize_net.py", "--config-file",
           os.path.join(ROOT, "configs", "stylize", "arbitrary_starry_night.yaml"), "--input", str(inputs),
           "--output", str(out), "MODEL.DEVICE", "cpu", "STYLE.SIZE", "64", "STYLIZE.STRIP", "False",
           "DATASETS.REGISTER_COCO", repr([["submit_photos", os.path.join(PHOTOS, "annotations",
                                                                          "instances_photos.json"), PHOTOS]]),
           "MASKS.DATASET", "submit_photos"]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "submitted job" in proc.stdout and "finished" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["images"]) == ["coco_train2017_000000352257", "coco_train2017_000000360452"]
    ranks = [json.loads((out / ".ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["summary"]["done"] for r in ranks] == [1, 1]  # one photo per task: two ranks of one job
