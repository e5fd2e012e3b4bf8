"""Johnson et al. (2016) image transformation network, with instance norm (Ulyanov et al. 2016).

Three convolutions (the last two stride 2), residual blocks, two nearest-upsample + convolution stages
(no transposed convolutions, hence no checkerboard artefacts) and a final 9x9 convolution. Input and
output are RGB in 0..1, N x 3 x H x W; the output is clamped at inference, not during training.
"""
import torch
from torch import nn
from torch.nn import functional as F


class ConvLayer(nn.Sequential):
    """Reflection pad + convolution + (optional) instance norm and ReLU."""

    def __init__(self, in_ch, out_ch, kernel, stride=1, norm=True, relu=True):
        layers = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(in_ch, out_ch, kernel, stride)]
        if norm:
            layers.append(nn.InstanceNorm2d(out_ch, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity shortcut."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(ConvLayer(channels, channels, 3), ConvLayer(channels, channels, 3, relu=False))

    def forward(self, x):
        return x + self.body(x)


class UpsampleConv(nn.Module):
    """Nearest-neighbour 2x upsampling followed by a convolution."""

    def __init__(self, in_ch, out_ch, kernel=3):
        super().__init__()
        self.conv = ConvLayer(in_ch, out_ch, kernel)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TransformerNet(nn.Module):
    """Feed-forward style network; ``channels`` is the first stage's width (Johnson: 32), then x2, x4."""

    def __init__(self, channels=32, num_residual=5):
        super().__init__()
        c = int(channels)
        self.channels, self.num_residual = c, int(num_residual)
        self.down = nn.Sequential(ConvLayer(3, c, 9), ConvLayer(c, 2 * c, 3, 2), ConvLayer(2 * c, 4 * c, 3, 2))
        self.residual = nn.Sequential(*[ResidualBlock(4 * c) for _ in range(self.num_residual)])
        self.up = nn.Sequential(UpsampleConv(4 * c, 2 * c), UpsampleConv(2 * c, c))
        self.out = ConvLayer(c, 3, 9, norm=False, relu=False)

    def forward(self, x):
        """RGB 0..1 (N x 3 x H x W, H and W multiples of 4) -> stylized RGB, roughly 0..1 (unclamped)."""
        return self.out(self.up(self.residual(self.down(x))))


@torch.no_grad()
def stylize_tensor(net, x):
    """Run ``net`` on RGB 0..1 ``x`` of any size: reflect-pad to a multiple of 4, crop and clamp after."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return net(x)[..., :h, :w].clamp(0.0, 1.0)
