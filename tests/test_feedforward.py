"""Per-style feed-forward networks: training on the shipped photos, resuming, ONNX export, the method."""
import importlib.util
import os

import numpy as np
import pytest
import torch

from localstyle.config import get_cfg
from localstyle.style.feedforward import load_transformer_net
from localstyle.style.onnx_batching import processing_shape
from localstyle.style import build_style_method
from localstyle.style.tensors import to_tensor
from localstyle.style.train_feedforward import (
    FeedForwardTrainer,
    evaluate_style_loss,
    list_training_images,
    random_crop,
)
from localstyle.style.transformer_net import TransformerNet, stylize_tensor
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image, resize_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(ROOT, "assets", "photos")
STYLE = os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg")
HELD_OUT = ["skimage_astronaut.png", "matplotlib_grace_hopper.jpg"]
TINY = ["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", 0, "FEEDFORWARD.IMAGE_SIZE", 64, "FEEDFORWARD.BATCH_SIZE", 2,
        "FEEDFORWARD.CHANNELS", 8, "FEEDFORWARD.NUM_RESIDUAL", 2, "FEEDFORWARD.STYLE_SIZE", 128, "STYLE.SEED", 0,
        "FEEDFORWARD.LOG_PERIOD", 2, "STYLE.IMAGE", STYLE]


def tiny_cfg(output_dir, image_dir, max_iter, **extra):
    cfg = get_cfg()
    cfg.merge_from_list(TINY + ["OUTPUT_DIR", str(output_dir), "FEEDFORWARD.IMAGE_DIR", str(image_dir),
                                "FEEDFORWARD.MAX_ITER", max_iter, "FEEDFORWARD.CHECKPOINT_PERIOD", max_iter])
    cfg.merge_from_list([x for kv in extra.items() for x in kv])
    return cfg


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    """The shipped photos minus two held out for evaluation (symlinked, not copied)."""
    folder = tmp_path_factory.mktemp("train_photos")
    for name in sorted(os.listdir(PHOTOS)):
        if name.lower().endswith((".jpg", ".png")) and name not in HELD_OUT:
            os.symlink(os.path.join(PHOTOS, name), folder / name)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, train_dir):
    """Train 8 iterations through the CLI (with ONNX export); returns the output folder."""
    spec = importlib.util.spec_from_file_location("train_style_net", os.path.join(ROOT, "train_style_net.py"))
    train_style_net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_style_net)
    out = tmp_path_factory.mktemp("ff_run")
    opts = [str(x) for x in TINY] + ["FEEDFORWARD.MAX_ITER", "8", "FEEDFORWARD.CHECKPOINT_PERIOD", "4"]
    train_style_net.main(["--style", STYLE, "--images", str(train_dir), "--output", str(out), "--export-onnx"] + opts)
    return out


def held_out_crops(size=64):
    rng = np.random.default_rng(0)
    crops = [random_crop(read_image(os.path.join(PHOTOS, n)), size, rng) for n in HELD_OUT for _ in range(2)]
    return torch.cat([to_tensor(c) for c in crops])


def test_training_lowers_style_loss_on_held_out_crops(trained, tmp_path, train_dir):
    assert {"config.yaml", "last_checkpoint", "metrics.json", "model_0000003.pth", "model_final.onnx",
            "model_final.pth"} <= set(os.listdir(trained))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(trained))
    assert open(trained / "last_checkpoint").read() == "model_final.pth"
    cfg = tiny_cfg(tmp_path, train_dir, 8)
    trainer = FeedForwardTrainer(cfg)  # same seed: its network is the untrained starting point
    crops = held_out_crops()
    before = evaluate_style_loss(trainer.net, trainer.vgg, crops, trainer.grams)
    net = load_transformer_net(str(trained / "model_final.pth"))
    after = evaluate_style_loss(net, trainer.vgg, crops, trainer.grams)
    assert after < 0.5 * before, (before, after)


def test_resume_continues_the_same_run(tmp_path, train_dir):
    straight = FeedForwardTrainer(tiny_cfg(tmp_path / "a", train_dir, 4))
    straight.train()
    first = FeedForwardTrainer(tiny_cfg(tmp_path / "b", train_dir, 2))  # "interrupted" after 2 iterations
    first.train()
    resumed = FeedForwardTrainer(tiny_cfg(tmp_path / "b", train_dir, 4))
    assert resumed.resume_or_load(resume=True) == 2
    resumed.train()
    a = torch.load(tmp_path / "a" / "model_final.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "model_final.pth", weights_only=True)
    assert a["iteration"] == b["iteration"] == 4
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-4, atol=1e-5)
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert FeedForwardTrainer(tiny_cfg(tmp_path / "c", train_dir, 4)).resume_or_load(resume=True) == 0


def test_resume_from_a_checkpoint_of_another_width_is_one_line(tmp_path, train_dir, trained):
    """The run in ``trained`` has 8 channels; a 16-channel trainer cannot resume from it."""
    wider = FeedForwardTrainer(tiny_cfg(trained, train_dir, 8, **{"FEEDFORWARD.CHANNELS": 16}))
    with pytest.raises(LocalstyleError, match=r"model_final\.pth: does not fit this model \(Error"):
        wider.resume_or_load(resume=True)


def test_onnx_export_matches_pytorch(trained):
    import onnxruntime as ort

    net = load_transformer_net(str(trained / "model_final.pth"))
    x = torch.rand(2, 3, 52, 76)  # batch and size differ from the export sample
    session = ort.InferenceSession(str(trained / "model_final.onnx"), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"image": x.numpy()})
    np.testing.assert_allclose(y, stylize_tensor(net, x).numpy(), atol=1e-4)


@pytest.mark.parametrize("ext", [".pth", ".onnx"])
def test_feedforward_method_runs_checkpoint_and_onnx(trained, ext):
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "STYLE.METHOD", "feedforward", "STYLE.SIZE", 96,
                         "STYLE.WEIGHTS", str(trained / f"model_final{ext}")])
    method = build_style_method(cfg)
    contents = [read_image(os.path.join(PHOTOS, n)) for n in HELD_OUT]
    contents.append(contents[0][10:70, 20:60].copy())  # a small crop, upscaled to at least 32 px inside
    out = method.stylize(contents, None, [None] * len(contents))
    assert [o.shape for o in out] == [c.shape for c in contents] and all(o.dtype == np.uint8 for o in out)
    net = load_transformer_net(str(trained / "model_final.pth"))
    for content, result in zip(contents, out):
        h, w = processing_shape(*content.shape[:2], 96)
        ref = stylize_tensor(net, to_tensor(resize_image(content, h, w)))[0].permute(1, 2, 0).numpy()
        expected = resize_image((ref * 255 + 0.5).astype(np.uint8), *content.shape[:2]).astype(int)
        assert np.abs(result.astype(int) - expected).max() <= (1 if ext == ".pth" else 3)


def test_bad_inputs_raise_one_line_errors(tmp_path, train_dir):
    with pytest.raises(LocalstyleError, match="no style image"):
        FeedForwardTrainer(tiny_cfg(tmp_path, train_dir, 2, **{"STYLE.IMAGE": ""}))
    cfg = tiny_cfg(tmp_path, tmp_path / "missing", 2)
    with pytest.raises(LocalstyleError, match="missing: training image folder not found"):
        list_training_images(cfg)
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "STYLE.METHOD", "feedforward",
                         "STYLE.WEIGHTS", str(tmp_path / "x.pth")])
    with pytest.raises(LocalstyleError, match="x.pth: feed-forward style weights not found"):
        build_style_method(cfg)
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    cfg.merge_from_list(["STYLE.WEIGHTS", str(tmp_path / "bad.onnx")])
    with pytest.raises(LocalstyleError, match="bad.onnx: cannot load ONNX model"):
        build_style_method(cfg)


def test_training_images_from_a_registered_dataset():
    cfg = get_cfg()
    cfg.merge_from_list(["FEEDFORWARD.DATASET", "coco_tiny_train2017"])
    paths = list_training_images(cfg)
    assert len(paths) == 80 and all(os.path.isfile(p) for p in paths)


def test_transformer_net_shapes():
    net = TransformerNet(4, 1).eval()
    x = torch.rand(1, 3, 37, 50)
    assert stylize_tensor(net, x).shape == x.shape
