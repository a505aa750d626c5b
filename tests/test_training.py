import numpy as np
import torch

from latentlab.training import TrainConfig, fit


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def _train(seed):
    torch.manual_seed(1)
    m = torch.nn.Linear(5, 2)
    x, y = _problem()
    hist = fit(
        m,
        (x, y),
        lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
        TrainConfig(epochs=5, batch_size=32, lr=0.05),
        seed=seed,
    )
    return m, hist


def test_fit_lowers_the_loss_and_counts_steps():
    m, hist = _train(0)
    assert len(hist) == TrainConfig(epochs=5, batch_size=32).n_steps(200) == 32
    assert np.mean(hist[-5:]) < 0.5 * np.mean(hist[:5])


def test_fit_is_deterministic_per_seed():
    (m1, h1), (m2, h2), (m3, h3) = _train(0), _train(0), _train(1)
    assert h1 == h2 and h1 != h3
    assert torch.equal(m1.weight, m2.weight)


def test_min_and_max_steps():
    c = TrainConfig(epochs=1, batch_size=64, min_steps=300)
    assert c.n_steps(100) == 300 and c.n_steps(64 * 400) == 400
    assert TrainConfig(epochs=10, batch_size=10, max_steps=7).n_steps(1000) == 7


def test_callbacks_are_called():
    calls = []

    class CB:
        def on_start(self, n):
            calls.append(("start", n))

        def on_step(self, s, l):
            calls.append("step")

        def on_end(self, h):
            calls.append(("end", len(h)))

    m = torch.nn.Linear(5, 2)
    x, y = _problem()
    fit(
        m,
        (x, y),
        lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
        TrainConfig(epochs=1, batch_size=50),
        callbacks=[CB()],
    )
    assert calls[0] == ("start", 4) and calls.count("step") == 4 and calls[-1] == ("end", 4)
