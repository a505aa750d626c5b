"""Figures of the labeling tool and the vessel generator.

Usage::

    python benchmarks/fem_figure.py [--seed 0] [--out docs/images]

Writes ``fem_example.png`` (a mask, its mesh and its systolic stress map, as the paper's
Fig. S1) and ``vessels_grid.png`` (24 generated masks).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from latentlab.vessels.fem import stress_map  # noqa: E402
from latentlab.vessels import generate_vessels  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="seed of the vessel generator")
    ap.add_argument("--out", type=Path, default=Path("docs/images"), help="output folder")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    masks, prm = generate_vessels(24, seed=args.seed, return_params=True)
    k = int(np.argmax(prm["plaque_thickness"]))  # an eccentric plaque
    mask = masks[k]
    stress, info = stress_map(mask, return_info=True)
    mesh = info["wall_mesh"].mesh
    px = info["wall_mesh"].pixel_mm

    fig, ax = plt.subplots(1, 3, figsize=(13, 4.2))
    ax[0].imshow(mask, cmap="gray", origin="upper")
    ax[0].set_title("wall mask (64 x 64)")
    ax[1].triplot(mesh.p[0] / px, mesh.p[1] / px, mesh.t.T, lw=0.3, color="k")
    for name, c in (("lumen", "tab:red"), ("outer", "tab:blue")):
        f = mesh.facets[:, mesh.boundaries[name]]
        ax[1].plot(mesh.p[0, f] / px, mesh.p[1, f] / px, color=c, lw=1.2)
    ax[1].set_xlim(0, 64)
    ax[1].set_ylim(64, 0)
    ax[1].set_aspect("equal")
    ax[1].set_title(
        f"P2-P1 mesh: {mesh.t.shape[1]} triangles, {info['n_dofs']} dofs\n(red: lumen, blue: outer border)", fontsize=9
    )
    im = ax[2].imshow(np.ma.masked_where(mask == 0, stress), cmap="inferno", origin="upper")
    fig.colorbar(im, ax=ax[2], label="max principal stress (kPa)")
    ax[2].set_title(f"systole, 120 mmHg ({info['seconds']:.2f} s)")
    for a in ax:
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout()
    fig.savefig(args.out / "fem_example.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(4, 6, figsize=(10, 7))
    for a, m in zip(ax.ravel(), masks):
        a.imshow(m, cmap="gray")
        a.set_xticks([])
        a.set_yticks([])
    fig.suptitle(f"generate_vessels(24, seed={args.seed})")
    fig.tight_layout()
    fig.savefig(args.out / "vessels_grid.png", dpi=90)
    plt.close(fig)
    print(f"wrote {args.out / 'fem_example.png'} and {args.out / 'vessels_grid.png'}")


if __name__ == "__main__":
    main()
