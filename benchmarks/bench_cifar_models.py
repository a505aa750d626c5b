"""CIFAR-10 cpu profile: generator quality and per-epoch training time of both models.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_cifar_models.py [--data-root ../shared/data]

Loads (or trains) the cpu-profile alpha-GAN exactly as ``latentlab run --profile cpu`` does, then

* reconstruction MSE (per pixel, [0, 1] scale) on the pool and on the test images, next to the MSE
  of the trivial "mean image" and "each image's own mean colour" predictors, for scale;
* ``docs/images/cifar10_recon.png`` (originals over reconstructions) and
  ``docs/images/cifar10_latent_grid.png`` (decoded 12 x 12 grid over [-2.5, 2.5]^2, beside the
  pool's codes coloured by class);
* seconds per epoch: alpha-GAN (from the training history stored with the cached model) and
  VGG16-BN (width of the profile) on 2,000 labelled images;
* everything as JSON on stdout (BENCHMARKS.md quotes it).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from latentlab import ExperimentConfig, TrainConfig, decode, encode, fit, prepare
from latentlab.generative import generator_key
from latentlab.storage import cache_dir
from latentlab.models import build_target
from latentlab.profiles import apply_profile

ROOT = Path(__file__).resolve().parents[1]


def mse(a, b):
    return float(np.mean((a - b) ** 2))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--images", default=str(ROOT / "docs" / "images"))
    a = ap.parse_args()
    cfg = apply_profile(ExperimentConfig(strategies=("snn",)), "cpu")
    ds, latent = prepare(cfg, a.data_root, progress=False)
    gen, emb = latent.generator, latent.embeddings
    res = {"threads": torch.get_num_threads(), "load_avg": os.getloadavg(), "generator": str(cfg.generator)}

    rec = {}
    for part, x in (("pool", ds.x_train), ("test", ds.x_test)):
        xr = np.concatenate([decode(gen, encode(gen, x[i : i + 1000])) for i in range(0, len(x), 1000)])
        rec[part] = mse(xr, x)
        if part == "test":
            x_test, xr_test = x, xr
    rec["mean_image_baseline"] = mse(ds.x_train.mean(0, keepdims=True), ds.x_test)
    rec["own_mean_colour_baseline"] = mse(ds.x_test.mean((2, 3), keepdims=True), ds.x_test)
    rec["test_l1"] = float(np.mean(np.abs(xr_test - x_test)))
    res["reconstruction_mse"] = rec

    key = generator_key(ds.fingerprint(), cfg.generator, cfg.gen_seed)
    meta = json.loads((cache_dir() / "generators" / f"{ds.name}-{cfg.generator.kind}-{key}.json").read_text())
    res["alphagan_epochs"] = meta.get("train_history")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir = Path(a.images)
    img_dir.mkdir(parents=True, exist_ok=True)
    n = 12
    fig, axes = plt.subplots(2, n, figsize=(n * 1.0, 2.3))
    for i in range(n):
        for r, arr in enumerate((x_test, xr_test)):
            axes[r, i].imshow(arr[i].transpose(1, 2, 0))
            axes[r, i].axis("off")
    axes[0, 0].set_title("original", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction G(E(x))", fontsize=8, loc="left")
    fig.suptitle(f"CIFAR-10 test images, cpu-profile alpha-GAN (2-D latent): MSE {rec['test']:.4f}", fontsize=9)
    fig.savefig(img_dir / "cifar10_recon.png", dpi=110, bbox_inches="tight")
    plt.close(fig)

    g = 12
    ticks = np.linspace(-2.5, 2.5, g)
    zz = np.array([[x, y] for y in ticks[::-1] for x in ticks], np.float32)
    tiles = decode(gen, zz).transpose(0, 2, 3, 1)  # (g*g, 32, 32, 3)
    mosaic = tiles.reshape(g, g, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(g * 32, g * 32, 3)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 6))
    ax0.imshow(mosaic, extent=(-2.5 - 0.23, 2.5 + 0.23, -2.5 - 0.23, 2.5 + 0.23))
    ax0.set_title("G(z) over the latent plane"), ax0.set_xlabel("z1"), ax0.set_ylabel("z2")
    sc = ax1.scatter(emb[:, 0], emb[:, 1], c=ds.y_train, cmap="tab10", s=2, alpha=0.6)
    ax1.set_xlim(-3.5, 3.5), ax1.set_ylim(-3.5, 3.5), ax1.set_aspect("equal")
    ax1.set_title("E(x) of the 10k pool, coloured by class")
    ax1.legend(handles=sc.legend_elements()[0], labels=list(ds.classes), fontsize=7, markerscale=0.8, loc="upper right")
    fig.savefig(img_dir / "cifar10_latent_grid.png", dpi=100, bbox_inches="tight")
    plt.close(fig)

    # VGG16-BN at the profile's width: one epoch over 2,000 labelled images
    torch.manual_seed(0)
    m = build_target(cfg.loop.target, ds.image_shape, 10, **dict(cfg.loop.target_kwargs))
    x = torch.as_tensor(ds.x_train[:2000])
    y = torch.as_tensor(ds.y_train[:2000], dtype=torch.long)
    t0 = time.perf_counter()
    fit(
        m,
        (x, y),
        lambda mm, b: torch.nn.functional.cross_entropy(mm(b[0]), b[1]),
        TrainConfig(epochs=1, batch_size=cfg.loop.train.batch_size),
        seed=0,
    )
    res["vgg16_seconds_per_epoch_2000"] = time.perf_counter() - t0
    res["vgg16_params"] = sum(p.numel() for p in m.parameters())
    res["alphagan_params"] = {
        k: sum(p.numel() for p in getattr(gen, k).parameters())
        for k in ("encoder", "decoder", "image_disc", "code_disc")
    }
    res["load_avg_end"] = os.getloadavg()
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
