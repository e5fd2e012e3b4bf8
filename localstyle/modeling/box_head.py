"""detectron2's FastRCNNConvFCHead: the box head between the box pooler and the box predictor."""
from torch import nn

from localstyle.modeling.layers import Conv2d, c2_msra_fill, c2_xavier_fill, get_norm


class FastRCNNConvFCHead(nn.Sequential):
    """``conv1..convN`` (3x3 + ReLU), then ``flatten``, ``fc1..fcM`` (+ ``fc_reluK``)."""

    def __init__(self, in_channels, resolution, num_conv, conv_dim, num_fc, fc_dim, norm=""):
        super().__init__()
        channels, size = in_channels, resolution
        for k in range(num_conv):
            conv = Conv2d(channels, conv_dim, kernel_size=3, padding=1, bias=not norm,
                          norm=get_norm(norm, conv_dim), activation=nn.ReLU())
            c2_msra_fill(conv)
            self.add_module(f"conv{k + 1}", conv)
            channels = conv_dim
        self.output_size = channels * size * size
        if num_fc:
            self.add_module("flatten", nn.Flatten())
        for k in range(num_fc):
            fc = nn.Linear(self.output_size, fc_dim)
            c2_xavier_fill(fc)
            self.add_module(f"fc{k + 1}", fc)
            self.add_module(f"fc_relu{k + 1}", nn.ReLU())
            self.output_size = fc_dim
