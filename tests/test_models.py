import pytest
import torch

from latentlab import ConfigError
from latentlab.models import VAE, LeNet, build_target


def test_lenet_matches_table_s7_on_28x28():
    m = LeNet((1, 28, 28), 10)
    assert m.classifier[0].in_features == 800 and m.classifier[0].out_features == 500
    assert m.features[0].out_channels == 20 and m.features[3].out_channels == 50
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("shape, flat", [((1, 8, 8), 200), ((3, 32, 32), 1250), ((1, 64, 64), 8450)])
def test_lenet_adapts_flatten_size(shape, flat):
    m = LeNet(shape, 10)
    assert m.classifier[0].in_features == flat
    assert m(torch.zeros(2, *shape)).shape == (2, 10)


def test_vae_matches_tables_s9_s10():
    v = VAE((1, 28, 28), latent_dim=15)
    assert [l.out_features for l in v.enc if isinstance(l, torch.nn.Linear)] == [400, 400]
    assert v.mu.out_features == 15 and v.logvar.out_features == 15
    assert v.dec[-1].out_features == 784
    x = torch.rand(4, 1, 28, 28)
    assert v.encode(x).shape == (4, 15)
    out = v.decode(v.encode(x))
    assert out.shape == (4, 1, 28, 28) and 0 <= out.min() and out.max() <= 1
    assert torch.isfinite(v.loss(x))


def test_unknown_target():
    with pytest.raises(ConfigError, match="valid choices: lenet"):
        build_target("resnet", (1, 8, 8), 10)
