"""Video stylization end to end on generated clips (known masks), tracking, flow confidence, stabilization that
keeps the strokes, H.264 output (odd sizes), resume after SIGKILL equal to an uninterrupted run, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import stylize_net
from localstyle.config import load_config
from localstyle.data import register_datasets_from_cfg
from localstyle.video import InstanceTracker, SyntheticClip, VideoRunner, tiny_clip, write_synthetic_clip
from localstyle.video import writer
from localstyle.video.flow import FlowEstimator
from localstyle.video.metrics import texture_energy
from localstyle.video.stabilizer import contrast_preserving_blend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "stylize", "arbitrary_video.yaml")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _opts(name, ann, frames_dir):
    return ["MODEL.DEVICE", "cpu", "STYLE.SIZE", "64", "VIDEO.CHUNK_SIZE", "4",
            "DATASETS.REGISTER_COCO", repr([[name, ann, frames_dir]]), "MASKS.DATASET", name]


def _decode(path):
    cap = cv2.VideoCapture(path)
    fps, size = cap.get(cv2.CAP_PROP_FPS), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                                            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("ascii", "replace")
    cap.release()
    return list(writer.read_frames(path)), fps, size, fourcc


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    return write_synthetic_clip(tiny_clip(), str(tmp_path_factory.mktemp("clip")))


def test_clip_end_to_end(clip_files, tmp_path):
    video, frames_dir, ann = clip_files
    cfg = load_config(CONFIG, _opts("video_tiny", ann, frames_dir))
    register_datasets_from_cfg(cfg)
    seen = []
    summary = VideoRunner(cfg, str(tmp_path)).run(video, on_frame=lambda *a: seen.append(a))
    inp, fps, size, _ = _decode(video)
    assert summary["frames"] == len(seen) == len(inp) == 12
    changed = 0
    for (index, original, outcome, alpha, record), expected in zip(seen, inp):
        np.testing.assert_array_equal(original, expected)
        zero = alpha == 0
        assert zero.any() and (~zero).any()
        np.testing.assert_array_equal(outcome[zero], original[zero])  # alpha 0: exactly the input
        changed += np.abs(outcome.astype(int) - original)[alpha > 0.9].mean() > 5
        assert record["instances"] >= 1
    assert changed >= 10  # people really got stylized
    for name, width in (("clip.mp4", size[0]), ("clip_mask.mp4", size[0]), ("clip_compare.mp4", 2 * size[0])):
        frames, out_fps, out_size, fourcc = _decode(str(tmp_path / name))
        assert (len(frames), out_fps, out_size) == (len(inp), fps, (width, size[1]))
        assert fourcc.lower() in ("avc1", "h264")  # what OpenCV's FFmpeg reports for H.264
    assert (tmp_path / "clip_strip.jpg").stat().st_size > 0
    entry = json.loads((tmp_path / "manifest.json").read_text())["videos"]["clip"]
    assert [r["index"] for r in entry["per_frame"]] == list(range(12))
    assert all(r["timings"]["total_s"] > 0 and r["instances"] >= 1 for r in entry["per_frame"])
    assert (entry["codec"], entry["encoder"], entry["output_size"]) == ("avc1", "libx264", [96, 64])
    assert not os.path.exists(tmp_path / ".clip_chunks")


def _track_ids(clip, keep_frames):
    tracker, flow, prev, ids = InstanceTracker(0.5, keep_frames, decay=0.5), FlowEstimator(1.0), None, []
    for t in range(clip.num_frames):
        image, masks = clip.frame(t)
        keep = [0, 1] if t != 2 else [0]  # person 1 missed in frame 2
        tracks = tracker.update(np.zeros(len(keep), int), np.ones(len(keep)), masks[keep],
                                flow.pair(prev, image) if prev is not None else None)
        prev = image
        ids.append({t.id: (t.missed, t.weight) for t in tracks})
    return ids


def test_tracker_keeps_ids_through_a_dropout():
    clip = SyntheticClip(320, 180, 6, 12.0, num_people=2, pan=2, seed=0)
    ids = _track_ids(clip, keep_frames=2)
    assert ids[0] == ids[1] == {0: (0, 1.0), 1: (0, 1.0)}
    assert ids[2] == {0: (0, 1.0), 1: (1, 0.5)}  # kept alive, decaying
    assert ids[3] == ids[4] == ids[5] == {0: (0, 1.0), 1: (0, 1.0)}  # same ids after the dropout
    without = _track_ids(clip, keep_frames=0)  # no keep-alive: the person comes back as someone new
    assert without[2] == {0: (0, 1.0)} and without[3] == {0: (0, 1.0), 2: (0, 1.0)}


def test_resume_after_sigkill_keeps_finished_chunks(tmp_path, capsys):
    video, frames_dir, ann = write_synthetic_clip(SyntheticClip(96, 64, 48, 12.0, 2, 1, seed=1), str(tmp_path / "c"))
    out = tmp_path / "out"
    argv = ["--config-file", CONFIG, "--input", video, "--output", str(out), *_opts("video_resume", ann, frames_dir),
            "VIDEO.CHUNK_SIZE", "2"]
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "stylize_net.py"), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / ".clip_chunks" / "chunk_00001.json"
    deadline = time.time() + 120
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in (out / ".clip_chunks").glob("chunk_*.json"))
    kept = {name: json.loads((out / ".clip_chunks" / name).read_text())["frames"] for name in finished}
    assert 2 <= len(finished) < 24, "the run was not interrupted midway"
    assert stylize_net.main(argv) == 0
    assert f"resuming at frame {2 * len(finished)}" in capsys.readouterr().out
    entry = json.loads((out / "manifest.json").read_text())["videos"]["clip"]
    assert entry["resumed_at"] == 2 * len(finished) and entry["processed"] == 48 - 2 * len(finished)
    # the finished chunks' frames were not redone: their records (with timings) are the ones saved before the kill
    assert entry["per_frame"][:2 * len(finished)] == [r for name in finished for r in kept[name]]
    whole = tmp_path / "whole"  # the same clip, never interrupted
    assert stylize_net.main([*argv[:5], str(whole), *argv[6:]]) == 0
    for name in ("clip.mp4", "clip_mask.mp4", "clip_compare.mp4"):
        resumed, uninterrupted = _decode(str(out / name))[0], _decode(str(whole / name))[0]
        assert len(resumed) == len(uninterrupted) == 48
        assert all(np.array_equal(a, b) for a, b in zip(resumed, uninterrupted)), name


def test_frame_folder_clip(clip_files, tmp_path):
    video, frames_dir, ann = clip_files
    argv = ["--config-file", CONFIG, "--video", "--input", frames_dir, "--output", str(tmp_path),
            *_opts("video_tiny", ann, frames_dir), "VIDEO.MAX_FRAMES", "5", "VIDEO.FPS", "7"]
    assert stylize_net.main(argv) == 0
    frames, fps, size, _ = _decode(str(tmp_path / "clip_frames.mp4"))  # the folder's name is the clip's stem
    assert (len(frames), fps, size) == (5, 7.0, (96, 64))
    entry = json.loads((tmp_path / "manifest.json").read_text())["videos"]["clip_frames"]
    assert all(r["instances"] >= 1 for r in entry["per_frame"])  # annotations matched by frame file name


def test_odd_frame_size_is_padded_by_one_and_stated(tmp_path):
    clip = SyntheticClip(161, 97, 5, 12.0, num_people=1, pan=1, seed=2)
    _, frames_dir, ann = write_synthetic_clip(clip, str(tmp_path / "c"))
    seen = {}
    cfg = load_config(CONFIG, _opts("video_odd", ann, frames_dir))
    register_datasets_from_cfg(cfg)
    VideoRunner(cfg, str(tmp_path / "o")).run(frames_dir, on_frame=lambda i, o, out, a, r: seen.setdefault(i, out))
    entry = json.loads((tmp_path / "o" / "manifest.json").read_text())["videos"]["clip_frames"]
    assert (entry["size"], entry["output_size"], entry["codec"]) == ([161, 97], [162, 98], "avc1")
    frames, _, size, fourcc = _decode(str(tmp_path / "o" / "clip_frames.mp4"))
    assert (len(frames), size) == (5, (162, 98)) and fourcc.lower() in ("avc1", "h264")
    for t, decoded in enumerate(frames):  # the frame itself, then its last column and row once more
        assert np.abs(decoded[:97, :161].astype(int) - seen[t]).mean() < 6  # lossy, but the same picture
        assert np.abs(decoded[:, 161].astype(int) - decoded[:, 160]).mean() < 3
        assert np.abs(decoded[97].astype(int) - decoded[96]).mean() < 3


def test_without_ffmpeg_mp4v_segments_are_joined_by_opencv(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ffmpeg_exe", lambda: None)  # as where imageio-ffmpeg is not installed
    codec = writer.choose_codec("")
    assert codec == writer.Codec("mp4v", "opencv")
    parts = []
    for k in range(2):
        w = writer.AtomicVideoWriter(str(tmp_path / f"part{k}.mp4"), 10.0, (65, 33), codec)
        for i in range(3):
            w.write(np.full((33, 65, 3), 40 * (3 * k + i), np.uint8))
        w.close()
        parts.append(w.path)
    writer.join_videos(parts, str(tmp_path / "all.mp4"), 10.0, (65, 33), codec)
    frames, fps, size, _ = _decode(str(tmp_path / "all.mp4"))
    assert (fps, size) == (10.0, (66, 34))
    assert [round(f.mean() / 40) for f in frames] == list(range(6))


def test_flow_confidence_drops_where_the_previous_frame_does_not_match():
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.uniform(0, 255, (100, 140, 3)).astype(np.float32), (0, 0), 2)
    scene = np.clip((scene - 127) * 4 + 127, 0, 255).astype(np.uint8)
    prev, cur = scene[:96, 4:132].copy(), scene[:96, 2:130].copy()  # the camera pans by 2 px
    cur[30:60, 40:80] = 255 - cur[30:60, 40:80]  # something new appears there
    flow = FlowEstimator(0.5).pair(prev, cur)
    new = np.zeros(cur.shape[:2], bool)
    new[34:56, 44:76] = True
    same = np.ones(cur.shape[:2], bool)
    same[24:66, 34:86] = False
    assert flow.confidence[new].mean() < 0.3 and flow.confidence[same].mean() > 0.7


def test_stabilizer_blend_keeps_the_strokes():
    rng = np.random.default_rng(0)
    a, b = (np.clip(cv2.GaussianBlur(rng.uniform(0, 255, (64, 64, 3)).astype(np.float32), (0, 0), 1) * 3 - 255,
                    0, 255).astype(np.uint8) for _ in range(2))
    half, everywhere = np.full((64, 64), 0.5, np.float32), np.ones((64, 64), bool)
    plain = np.round((a.astype(np.float32) + b) / 2).astype(np.uint8)
    out = contrast_preserving_blend(a, b, half)
    assert texture_energy(plain, everywhere) < 0.8 * texture_energy(a, everywhere)  # averaging washes strokes out
    assert 0.9 < texture_energy(out, everywhere) / texture_energy(a, everywhere) < 1.1
    assert abs(out.astype(float).mean() - plain.mean()) < 2  # colours are still the blend's
    np.testing.assert_array_equal(contrast_preserving_blend(a, a, half), a)  # nothing to restore
    np.testing.assert_array_equal(contrast_preserving_blend(a, b, np.zeros((64, 64))), a)


@pytest.mark.parametrize("spec, problem", [("broken.mp4", "cannot read video"), ("missing.mp4", "not found"),
                                           ("7", "cannot read video")])
def test_unreadable_video_is_one_error_line(tmp_path, capsys, spec, problem):
    (tmp_path / "broken.mp4").write_bytes(b"this is not a video" * 100)
    path = spec if spec.isdigit() else str(tmp_path / spec)
    with pytest.raises(SystemExit) as e:
        stylize_net.main(["--config-file", CONFIG, "--input", path, "--output", str(tmp_path / "o"),
                          "--model-config", os.path.join(ROOT, "configs", "tiny", "mask_rcnn_R_50_FPN_unittest.yaml"),
                          "MODEL.DEVICE", "cpu", "DATASETS.REGISTER_COCO", "[]", "MASKS.SOURCE", "predictor"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert path in err and problem in err
