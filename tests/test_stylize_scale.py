"""stylize_net.py over several CPU processes (--num-gpus 2, two "machines" on localhost): same outputs as one process,
one manifest.json, reruns with another process count, a killed rank, Ctrl-C. Real COCO photos and their
annotation masks, the arbitrary (ONNX) method at a small size."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import stylize_net
from localstyle.engine.launch import find_free_port
from localstyle.stylize.parts import ManifestPart, merge_parts
from localstyle.stylize.shard import shard
from localstyle.utils.image_io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stylize", "arbitrary_starry_night.yaml")
PHOTOS = os.path.join(ROOT, "assets", "photos")
COCO = os.path.join(ROOT, "tests", "data", "coco_dev", "coco_tiny_train2017")
PERSON_JSON = os.path.join(COCO + "_person", "annotations", "person_train2017.json")


def _opts(annotations, images, size=96):
    name = "scale_" + os.path.basename(os.path.dirname(os.path.dirname(annotations)))  # photos, coco_tiny_..._person
    return ["MODEL.DEVICE", "cpu", "STYLE.SIZE", str(size), "STYLIZE.STRIP", "False", "STYLIZE.NUM_WORKERS", "1",
            "STYLE.IMAGE", os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg"),
            "DATASETS.REGISTER_COCO", repr([[name, annotations, images]]), "MASKS.DATASET", name]


def _argv(inputs, out, *extra):
    return ["--config-file", CONFIG, "--input", str(inputs), "--output", str(out), *extra]


def _start(inputs, out, *extra):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "stylize_net.py"), *_argv(inputs, out, *extra)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _status_when_busy(out, rank, proc, timeout=120):
    """Rank ``rank``'s status once it is on an input."""
    path, end = out / ".ranks" / f"rank{rank}.json", time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            status = json.loads(path.read_text())
            if status["input"]:
                return status
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"rank {rank} never started: {proc.communicate()}")


def _errors(stderr):
    """The ``error:`` lines (a killed rank's progress bar may leave its line unfinished before one)."""
    return ["error:" + line.split("error:", 1)[1] for line in stderr.replace("\r", "\n").splitlines()
            if "error:" in line]


@pytest.fixture(scope="module")
def coco_people(tmp_path_factory):
    """24 COCO train2017 photos with annotated people, copied into one folder."""
    d = tmp_path_factory.mktemp("people")
    data = json.loads(open(PERSON_JSON).read())
    with_people = {a["image_id"] for a in data["annotations"]}
    for name in sorted(i["file_name"] for i in data["images"] if i["id"] in with_people)[:24]:
        shutil.copy(os.path.join(COCO, "train2017", name), d / name)
    return d


def test_shard_is_a_deterministic_balanced_partition():
    items = [f"img{i:02d}.jpg" for i in range(40)]
    costs = [(i * 7919) % 97 + 1 for i in range(40)]
    shares = [shard(items, costs, 3, r) for r in range(3)]
    assert sorted(sum(shares, [])) == items and shares == [shard(items, costs, 3, r) for r in range(3)]
    loads = [sum(costs[items.index(p)] for p in s) for s in shares]
    assert max(loads) - min(loads) <= max(costs)  # greedy largest-first: within one item of each other
    assert all(s == sorted(s) for s in shares)  # input order kept within a rank


def test_manifest_parts_merge_atomically(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"images": {"old": {"input": "old.jpg"}}}))
    for rank in range(2):
        part = ManifestPart(str(tmp_path), rank)
        assert "old" in part.images  # a rank sees the finished images of earlier runs
        part.images[f"new{rank}"] = {"input": f"new{rank}.jpg"}
        part.save({"STYLE.METHOD": "arbitrary"})
    assert set(json.loads((tmp_path / "manifest.rank1.json").read_text())["images"]) == {"new1"}
    assert merge_parts(str(tmp_path)) == 2 and merge_parts(str(tmp_path)) == 0
    merged = json.loads((tmp_path / "manifest.json").read_text())
    assert set(merged["images"]) == {"old", "new0", "new1"} and merged["settings"] == {"STYLE.METHOD": "arbitrary"}
    assert sorted(os.listdir(tmp_path)) == ["manifest.json"]


def test_two_processes_equal_one(tmp_path):
    names = [n for n in sorted(os.listdir(PHOTOS)) if n.startswith("coco_train2017_")][:4]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in names:
        shutil.copy(os.path.join(PHOTOS, name), inputs / name)
    opts = _opts(os.path.join(PHOTOS, "annotations", "instances_photos.json"), PHOTOS)
    assert stylize_net.main(_argv(inputs, tmp_path / "one", *opts)) == 0
    proc = _start(inputs, tmp_path / "two", "--num-gpus", "2", *opts)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "2 processes: 4 done, 0 skipped" in out
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())["images"]
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())["images"]
    assert sorted(two) == sorted(one) == sorted(os.path.splitext(n)[0] for n in names)
    assert not list((tmp_path / "two").glob("manifest.rank*.json"))
    for stem in one:
        for suffix in (".png", "_mask.png"):
            a = read_image(str(tmp_path / "one" / f"{stem}{suffix}")).astype(np.float32)
            b = read_image(str(tmp_path / "two" / f"{stem}{suffix}")).astype(np.float32)
            assert a.shape == b.shape and np.abs(a - b).mean() <= 1.0, (stem, suffix)
        assert two[stem]["instances"] == one[stem]["instances"]


def test_lost_rank_stops_the_others_and_a_rerun_does_the_rest(coco_people, tmp_path, capsys):
    """Two machines on localhost, one process each; machine 1's process is killed mid-run. Its launcher names it;
    machine 0 notices the missing heartbeat (5 s here) and stops naming rank 1 and its input; then a one-process
    rerun does only the photos that are missing."""
    out, port = tmp_path / "out", find_free_port()
    opts = [*_opts(PERSON_JSON, os.path.join(COCO, "train2017"), size=256), "STYLIZE.BATCH_SIZE", "1",
            "STYLIZE.HEARTBEAT_TIMEOUT", "5"]
    procs = [_start(coco_people, out, "--num-gpus", "1", "--num-machines", "2", "--machine-rank", str(m),
                    "--dist-url", f"tcp://127.0.0.1:{port}", *opts) for m in (0, 1)]
    status = _status_when_busy(out, 1, procs[1])
    os.kill(status["pid"], signal.SIGKILL)
    t0 = time.monotonic()
    results = [p.communicate(timeout=60) for p in procs]
    assert time.monotonic() - t0 < 60 and all(p.returncode == 2 for p in procs)
    lines = [_errors(err) for _, err in results]
    assert all(len(found) == 1 for found in lines), results
    assert lines[1][0].startswith("error: rank 1 died (killed by SIGKILL) while on ")
    assert lines[0][0].startswith("error: rank 1 stopped while on ") and "no heartbeat for 5 s" in lines[0][0]
    killed_on = lines[1][0].split(" while on ")[1].split(";")[0].split(" (")[0]
    assert killed_on in lines[0][0] and killed_on.startswith(str(coco_people))
    kept = sum(len(json.loads(p.read_text())["images"]) for p in out.glob("manifest.rank*.json"))
    assert kept < 24
    assert stylize_net.main(_argv(coco_people, out, *opts)) == 0
    assert f"stylize: {24 - kept} done, {kept} skipped (already complete), 0 failed" in capsys.readouterr().out
    assert len(json.loads((out / "manifest.json").read_text())["images"]) == 24


def test_ctrl_c_stops_every_rank(coco_people, tmp_path):
    out = tmp_path / "out"
    proc = _start(coco_people, out, "--num-gpus", "2", *_opts(PERSON_JSON, os.path.join(COCO, "train2017"), 256),
                  "STYLIZE.BATCH_SIZE", "1")
    pids = [_status_when_busy(out, r, proc)["pid"] for r in (0, 1)]
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stdout, err[-3000:]
    time.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_folder_of_clips_and_photos_is_split_and_merged(tmp_path, capsys):
    """Two clips and two photos (frames of a synthetic clip, its annotations as masks) over 2 processes: one
    manifest with both kinds; a one-process rerun finds everything complete."""
    from localstyle.video import tiny_clip, write_synthetic_clip

    video, frames, annotations = write_synthetic_clip(tiny_clip(), str(tmp_path / "clip"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(video, inputs / name)
    for name in ("frame_000000.png", "frame_000001.png"):
        shutil.copy(os.path.join(frames, name), inputs / name)
    opts = ["--config-file", os.path.join(ROOT, "configs", "stylize", "arbitrary_video.yaml"), "MODEL.DEVICE", "cpu",
            "STYLE.SIZE", "64", "VIDEO.CHUNK_SIZE", "4", "DATASETS.REGISTER_COCO",
            repr([["scale_clip", annotations, frames]]), "MASKS.DATASET", "scale_clip"]
    argv = ["--input", str(inputs), "--output", str(tmp_path / "out")]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "stylize_net.py"), *argv, "--num-gpus", "2", *opts],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert sorted(manifest["images"]) == ["frame_000000", "frame_000001"] and sorted(manifest["videos"]) == ["a", "b"]
    assert all(v["frames"] == 12 for v in manifest["videos"].values())
    assert stylize_net.main([*argv, *opts]) == 0
    out = capsys.readouterr().out
    assert "0 done, 2 skipped" in out and "a already complete" in out and "b already complete" in out
