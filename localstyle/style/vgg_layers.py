"""VGG16/VGG19 layer tables: named layers (conv1_1, relu1_1, ..., pool5), widths, input conventions.

Shared by the extractor (:mod:`localstyle.style.vgg`) and the weight loaders (:mod:`localstyle.style.weights`).
"""
from localstyle.utils.errors import LocalstyleError

_BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)

# name -> (scale, channel order, mean, std) applied to RGB 0..1 input.
CONVENTIONS = {
    "torchvision": (1.0, (0, 1, 2), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "caffe": (255.0, (2, 1, 0), (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
}


def layer_names(arch):
    """Names of ``arch``'s feature layers in order: conv1_1, relu1_1, ..., pool1, conv2_1, ..."""
    if arch not in _BLOCKS:
        raise LocalstyleError(f"STYLE.VGG.ARCH: unknown VGG architecture {arch!r} (use vgg16 or vgg19)")
    names = []
    for b, n in enumerate(_BLOCKS[arch], start=1):
        for k in range(1, n + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return names


def receptive_field(arch, layer):
    """Receptive field, in input pixels, of one unit of ``layer`` (3x3 convs, 2x2 pools)."""
    rf, stride = 1, 1
    for name in layer_names(arch)[:layer_names(arch).index(layer) + 1]:
        if name.startswith("conv"):
            rf += 2 * stride
        elif name.startswith("pool"):
            rf += stride
            stride *= 2
    return rf
