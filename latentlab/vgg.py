"""VGG16 with batch norm: the CIFAR-10 target model of Table S8, with a width multiplier.

``[64, 64, M, 128, 128, M, 256 x3, M, 512 x3, M, 512 x3, M]`` 3x3 convolutions, each followed by
batch norm and ReLU, then fc(512 -> classes); every channel count is scaled by ``width``
(``max(1, round(c * width))``) so the ``cpu`` profile can train it on two cores.

Deviations from Table S8, and why
---------------------------------
1. **Padding 1**, not 0: thirteen unpadded 3x3 convolutions and five poolings cannot run on 32x32
   inputs (the maps vanish after the second block). Padding 1 is standard VGG and gives the table's
   512 x 1 x 1 features before the fc layer.
2. **Input channels** of the first convolution of each block follow the previous block (the table
   lists 128 -> 128 where 64 -> 128 is meant, and so on).
3. **Small inputs**: a pooling that would shrink a map below 1x1 is skipped, and the features are
   averaged to 1x1 (a no-op at 32x32), so the model also runs on e.g. the 8x8 digits in tests.
"""

from __future__ import annotations

import torch
from torch import nn

from .models import register_target

__all__ = ["VGG16", "VGG16_CFG"]

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


@register_target("vgg16")
class VGG16(nn.Module):
    """VGG16-BN (Table S8).

    Parameters
    ----------
    image_shape : tuple (C, H, W)
    n_classes : int
    width : float
        Channel multiplier: 1 = the table (512 features), 0.25 -> 128 features, 0.125 -> 64.

    Notes
    -----
    Shapes: input (n, C, H, W) -> logits (n, n_classes); :meth:`features` gives (n, round(512 * width)).
    """

    def __init__(self, image_shape, n_classes: int = 10, width: float = 1.0):
        super().__init__()
        if not width > 0:
            raise ValueError(f"width must be > 0 (1 = Table S8, 0.25 for the cpu profile), got {width}")
        c, h, w = (int(s) for s in image_shape)
        layers, ch = [], c
        for v in VGG16_CFG:
            if v == "M":
                if min(h, w) >= 2:
                    layers.append(nn.MaxPool2d(2))
                    h, w = h // 2, w // 2
                continue
            out = max(1, round(v * width))
            layers += [nn.Conv2d(ch, out, 3, 1, 1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.n_features = ch
        self.classifier = nn.Linear(ch, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))
