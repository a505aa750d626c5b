"""Target model of the IVUS task (Table S6): a convolutional encoder-decoder, mask -> stress map.

Table S6 lists kernel-2, stride-1, unpadded convolutions (each shrinks the image by one pixel)
and kernel-2 transposed convolutions (each grows it by one), with 2x max pooling and 2x
up-sampling between them. Taken literally on 64 x 64 inputs the sizes do not close
(64 -> 63 -> 31 -> 30 -> 15 -> 14 -> 7 -> 6 -> 3 -> 2 on the way down, 2 -> 3 -> 6 -> 7 -> ... -> 62 -> 63
on the way up). Our adaptation keeps every layer, channel count and kernel size of the table
and makes each kernel-2 layer size preserving ("same" padding for an even kernel): a
convolution pads one zero row/column at the bottom/right before convolving, a transposed
convolution drops its last row/column after. Sizes then run 64 -> 32 -> 16 -> 8 -> 4 (bottleneck
64 x 4 x 4) -> 8 -> 16 -> 32 -> 64, and the sigmoid output is 1 x 64 x 64, the normalised stress
map (stress / 200 kPa, :data:`latentlab.vessels.STRESS_SCALE_KPA`). Loss: MSE
(:class:`latentlab.tasks.Regression`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..models import register_target

__all__ = ["SameConv2", "SameConvT2", "VesselNet"]


class SameConv2(nn.Conv2d):
    """Kernel-2 stride-1 convolution that keeps H x W (pads bottom/right by one)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 2, stride=1, padding=0)

    def forward(self, x):
        return super().forward(F.pad(x, (0, 1, 0, 1)))


class SameConvT2(nn.ConvTranspose2d):
    """Kernel-2 stride-1 transposed convolution that keeps H x W (crops the extra row/column)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 2, stride=1, padding=0)

    def forward(self, x):
        return super().forward(x)[..., :-1, :-1]


@register_target("s6")
class VesselNet(nn.Module):
    """Table S6 encoder-decoder; input (n, 1, H, W), output (n, n_outputs, H, W) in (0, 1).

    Parameters
    ----------
    image_shape : tuple (C, H, W)
        H and W must be divisible by 16 (four 2x poolings).
    n_outputs : int, default 1
        Output channels (1: the stress map).
    width : float, default 1.0
        Multiplies the channel counts 8, 16, 32, 64 (for quick tests).
    """

    def __init__(self, image_shape, n_outputs: int = 1, width: float = 1.0):
        super().__init__()
        from ..exceptions import ConfigError

        c, h, w = (int(s) for s in image_shape)
        if h % 16 or w % 16:
            raise ConfigError(f"target 's6' needs H and W divisible by 16 (four 2x poolings), got {h}x{w}")
        ch = [max(1, round(k * width)) for k in (8, 16, 32, 64)]

        def block(layer, c_out, tail):
            return [layer, nn.BatchNorm2d(c_out), nn.ReLU(), *tail]

        enc, c_prev = [], c
        for k in ch:
            enc += block(SameConv2(c_prev, k), k, [nn.MaxPool2d(2, 2)])
            c_prev = k
        enc += [SameConv2(ch[3], ch[3]), nn.BatchNorm2d(ch[3]), nn.ReLU()]
        dec = []
        for c_in, c_out in ((ch[3], ch[3]), (ch[3], ch[2]), (ch[2], ch[1]), (ch[1], ch[0])):
            dec += block(SameConvT2(c_in, c_out), c_out, [nn.Upsample(scale_factor=2, mode="nearest")])
        dec += [SameConvT2(ch[0], n_outputs), nn.Sigmoid()]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
