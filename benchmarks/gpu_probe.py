"""Step times of the models the GPU benchmarks train (printed; for sizing a lent GPU session).

python benchmarks/gpu_probe.py [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import torch

from latentlab.alphagan import AlphaGAN
from latentlab.models import build_target


def _time(fn, n=20, warm=3):
    for _ in range(warm):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    gan = AlphaGAN((3, 32, 32), latent_dim=2, hidden=64).to(dev)
    opts = gan.optimizers()
    x = torch.rand(64, 3, 32, 32, device=dev)
    z = torch.randn(64, 2, device=dev)
    print(f"alphagan-64 step (batch 64): {_time(lambda: gan.train_step(x, z, opts)) * 1e3:.1f} ms")
    for name, shape, kw, bs in (
        ("vgg16", (3, 32, 32), {"width": 1.0}, 128),
        ("vgg16", (3, 32, 32), {"width": 0.125}, 64),
        ("lenet", (1, 28, 28), {}, 64),
    ):
        m = build_target(name, shape, 10, **kw).to(dev)
        opt = torch.optim.Adam(m.parameters())
        xb, yb = torch.rand(bs, *shape, device=dev), torch.randint(0, 10, (bs,), device=dev)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(xb), yb).backward()
            opt.step()

        print(f"{name} {kw} step (batch {bs}): {_time(step) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
