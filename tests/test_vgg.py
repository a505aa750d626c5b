"""VGG16-BN target of Table S8 (latentlab/vgg.py): shapes, widths, registry."""

from __future__ import annotations

import pytest
import torch

from latentlab.models import TARGETS, build_target
from latentlab.vgg import VGG16


@pytest.mark.parametrize("width,features", [(1.0, 512), (0.25, 128), (0.125, 64)])
def test_features_and_logits(width, features):
    m = VGG16((3, 32, 32), 10, width=width).eval()
    convs = [l for l in m.body if isinstance(l, torch.nn.Conv2d)]
    assert len(convs) == 13 and sum(isinstance(l, torch.nn.MaxPool2d) for l in m.body) == 5
    assert convs[0].out_channels == max(1, round(64 * width)) and convs[-1].out_channels == features
    assert all(c.padding == (1, 1) for c in convs)  # documented deviation 1
    assert m.classifier.in_features == features
    x = torch.rand(2, 3, 32, 32)
    assert m.features(x).shape == (2, features) and m(x).shape == (2, 10)


def test_registry_and_small_inputs():
    assert "vgg16" in TARGETS
    m = build_target("vgg16", (1, 8, 8), 10, width=0.0625)  # 8x8 digits: poolings below 1x1 are skipped
    assert m(torch.rand(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="width"):
        VGG16((3, 32, 32), 10, width=0)
