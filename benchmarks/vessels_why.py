"""Why does SI win or lose on the vessels? Measure the gap between decoded and real masks.

For the generator of finished ``latentlab run --dataset vessels`` runs (RUN_DIR ...: runs of one
protocol, e.g. random,si in one folder and the remedies in another), this script

1. decodes ``--n`` draws z ~ N(0, I), post-processes them into valid masks exactly as SI does
   (``FEMLabeler.prepare``; the reject rate is reported) and labels them with the FEM tool;
2. compares them with ``--n`` random real pool masks: FEM stress statistics per mask (peak, mean,
   median, 90th/99th percentile over wall pixels, kPa) and shape statistics (wall and lumen area,
   mean wall thickness, thickness asymmetry (plaque), lumen ellipticity, lumen border roughness),
   each as mean +- std and a two-sample Kolmogorov-Smirnov statistic;
3. scores realism with 5-fold cross-validated logistic regression (scikit-learn) telling real from
   decoded masks, on raw pixels and on the shape statistics (0.5 = indistinguishable);
4. evaluates every strategy's final target model (each seed's last checkpoint) on the real test
   masks and on the decoded masks, so a strategy that is better on the generator's distribution
   but worse on real masks shows as such; ratios are against ``--baseline``.
5. the same stress/shape statistics for the masks each synthesizing strategy actually labelled.

Prints markdown tables (also written to ``--out``, default ``RUN_DIR/why.md``, and ``why.json``). FEM labels come from
the label cache where they exist. Usage:

    python benchmarks/vessels_why.py runs/vessels_si/random-si runs/vessels_si/remedies --n 200
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, stats

from latentlab.experiment import ExperimentConfig, label_validation, labeler_for, prepare
from latentlab.generative import decode
from latentlab.models import build_target
from latentlab.storage import load_state
from latentlab.tasks import task_for
from latentlab.vessels.labeler import STRESS_SCALE_KPA
from latentlab.vessels.masks import lumen_mask

STRESS_KEYS = ("peak", "mean", "p50", "p90", "p99")
SHAPE_KEYS = ("wall_area", "lumen_area", "thickness", "thick_asym", "lumen_ellipticity", "lumen_roughness")


def stress_stats(y: np.ndarray, x: np.ndarray) -> dict:
    """Per-mask stress statistics (kPa) over wall pixels; y = stress / 200 kPa (clipped), x the masks."""
    out = {k: [] for k in STRESS_KEYS}
    for yi, xi in zip(y[:, 0], x[:, 0]):
        s = yi[xi > 0.5] * STRESS_SCALE_KPA
        out["peak"].append(s.max())
        out["mean"].append(s.mean())
        for q in (50, 90, 99):
            out[f"p{q}"].append(np.percentile(s, q))
    return {k: np.asarray(v) for k, v in out.items()}


def shape_stats(x: np.ndarray) -> dict:
    """Per-mask geometry: areas (px), equivalent-circle thickness r_out - r_lumen (px), thickness
    asymmetry (max/min of the wall's radial extent over 36 rays), lumen ellipticity 1 - minor/major
    axis (second moments), lumen roughness = (border pixel count)^2 / (4 pi area) (a relative
    measure: digitised discs score ~0.7-0.8, ragged borders more)."""
    out = {k: [] for k in SHAPE_KEYS}
    for m in x[:, 0] > 0.5:
        lum = lumen_mask(m.astype(np.uint8))
        a_w, a_l = m.sum(), lum.sum()
        out["wall_area"].append(a_w)
        out["lumen_area"].append(a_l)
        out["thickness"].append(np.sqrt((a_w + a_l) / np.pi) - np.sqrt(a_l / np.pi))
        yy, xx = np.nonzero(lum)
        cy, cx = yy.mean(), xx.mean()
        ev = np.linalg.eigvalsh(np.cov(np.stack([yy - cy, xx - cx])))
        out["lumen_ellipticity"].append(1 - np.sqrt(max(ev[0], 1e-9) / ev[1]))
        per = (lum & ~ndimage.binary_erosion(lum)).sum()
        out["lumen_roughness"].append(per**2 / (4 * np.pi * a_l))
        th = []
        for ang in np.linspace(0, 2 * np.pi, 36, endpoint=False):
            r = np.arange(0, 40, 0.25)
            py, px = np.round(cy + r * np.sin(ang)).astype(int), np.round(cx + r * np.cos(ang)).astype(int)
            ok = (py >= 0) & (py < m.shape[0]) & (px >= 0) & (px < m.shape[1])
            th.append(m[py[ok], px[ok]].sum() * 0.25)
        th = np.asarray(th)
        out["thick_asym"].append(th.max() / max(th.min(), 0.25))
    return {k: np.asarray(v, float) for k, v in out.items()}


def compare_rows(real: dict, other: dict, keys) -> list[str]:
    rows = []
    for k in keys:
        ks = stats.ks_2samp(real[k], other[k])
        rows.append(
            f"| {k} | {real[k].mean():.2f} ± {real[k].std():.2f} | {other[k].mean():.2f} ± {other[k].std():.2f}"
            f" | {ks.statistic:.2f} (p={ks.pvalue:.1g}) |"
        )
    return rows


def cv_accuracy(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """5-fold CV accuracy of a logistic regression telling rows of ``a`` from rows of ``b``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(a), len(b))
    X = np.concatenate([a[:n], b[:n]]).astype(np.float64)
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    s = cross_val_score(clf, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed))
    return float(s.mean()), float(s.std())


def final_models(run_dir: Path, cfg: ExperimentConfig, ds, task, out: dict):
    """Add ``{strategy: [(seed, model, state, folder)]}`` from each run's last checkpoint to ``out``."""
    for s in cfg.strategies:
        for seed in cfg.seeds:
            d = run_dir / "runs" / f"{s}-seed{seed}"
            if not (d / "state.json").exists():
                continue
            st = json.loads((d / "state.json").read_text())
            m = build_target(cfg.loop.target, ds.image_shape, task.n_outputs(ds), **dict(cfg.loop.target_kwargs))
            out.setdefault(s, []).append((seed, load_state(m, d / st["model"]).eval(), st, d))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "run_dirs", type=Path, nargs="+", help="run folders of one protocol (the first names the generator)"
    )
    ap.add_argument(
        "--out", type=Path, help="markdown output (default RUN_DIR/why.md of the first; why.json beside it)"
    )
    ap.add_argument("--n", type=int, default=200, help="decoded and real masks compared (default 200)")
    ap.add_argument("--seed", type=int, default=12345, help="seed of the prior draws and the real sample")
    ap.add_argument("--baseline", default="random")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfgs = [ExperimentConfig.from_dict(json.loads((d / "config.json").read_text())) for d in a.run_dirs]
    cfg = cfgs[0]
    if any(c.override({"strategies": cfg.strategies}) != cfg for c in cfgs[1:]):
        raise SystemExit("the run folders differ in more than their strategies; give runs of one protocol")
    # the generator of the run: prepare() trains or loads it exactly as the run did (cached)
    gen_cfg = cfg.override({"strategies": ("si",)})
    ds, latent = prepare(gen_cfg, progress=False)
    labeler = labeler_for(ds, cfg.loop.target)
    ds = label_validation(ds, labeler, progress=False)
    task = task_for(ds)
    rng = np.random.default_rng(a.seed)

    # 1. decoded masks from the prior, post-processed as SI does, FEM-labelled
    z = rng.standard_normal((a.n, latent.generator.latent_dim))
    x_dec, acc = labeler.prepare(decode(latent.generator, z))
    res = labeler.label(x_dec, progress=False)
    x_dec, y_dec = x_dec[res.ok], res.y
    reject = 1 - acc.mean()
    # 2. real pool masks (random, not the test set), FEM-labelled (cached when a run labelled them)
    idx = np.sort(rng.choice(len(ds.x_train), a.n, replace=False))
    res = labeler.label(ds.x_train[idx], progress=False)
    x_real, y_real = ds.x_train[idx][res.ok], res.y
    # decoded reconstructions of real masks, G(E(x)) post-processed: the generator's version of them
    x_rec, acc_rec = labeler.prepare(decode(latent.generator, latent.embeddings[idx]))

    s_real, s_dec = stress_stats(y_real, x_real), stress_stats(y_dec, x_dec)
    g_real, g_dec, g_rec = shape_stats(x_real), shape_stats(x_dec), shape_stats(x_rec)
    md = [
        f"# Why SI wins or loses: {', '.join(map(str, a.run_dirs))}",
        "",
        f"Generator: {cfg.generator.kind}, latent {cfg.generator.latent_dim}; {a.n} prior draws z ~ N(0, I), "
        f"post-processed as SI does: {reject:.1%} rejected, {len(x_dec)} FEM-labelled; {len(x_real)} random real "
        f"pool masks.",
        "",
        "## FEM stress per mask (kPa) and shape: real vs decoded (z ~ N(0, I))",
        "",
        "| statistic | real pool masks | decoded masks | KS statistic |",
        "|---|---|---|---|",
    ]
    md += compare_rows(s_real, s_dec, STRESS_KEYS) + compare_rows(g_real, g_dec, SHAPE_KEYS)
    md += [
        "",
        "Reconstructions G(E(x)) of the same real masks (post-processed): "
        + ", ".join(f"{k} {g_rec[k].mean():.2f} ± {g_rec[k].std():.2f}" for k in SHAPE_KEYS),
        "",
    ]

    # 3. realism: can a linear classifier tell them apart?
    pix = cv_accuracy(x_real.reshape(len(x_real), -1), x_dec.reshape(len(x_dec), -1))
    feats = lambda g, s: np.stack([g[k] for k in SHAPE_KEYS] + [s[k] for k in STRESS_KEYS], 1)  # noqa: E731
    fea = cv_accuracy(feats(g_real, s_real), feats(g_dec, s_dec))
    pix_rec = cv_accuracy(x_real[acc_rec].reshape(acc_rec.sum(), -1), x_rec.reshape(len(x_rec), -1))
    md += [
        "## Realism: real vs decoded, logistic regression, 5-fold CV accuracy (0.5 = indistinguishable)",
        "",
        "| inputs | accuracy |",
        "|---|---|",
        f"| pixels, real vs decoded z ~ N(0, I) | {pix[0]:.3f} ± {pix[1]:.3f} |",
        f"| shape + stress statistics, real vs decoded | {fea[0]:.3f} ± {fea[1]:.3f} |",
        f"| pixels, real vs their own reconstructions G(E(x)) (near-duplicate pairs split across folds bias "
        f"this below 0.5: read it as 'hard to tell apart') | {pix_rec[0]:.3f} ± {pix_rec[1]:.3f} |",
        "",
    ]

    # 4. every strategy's final model on real test masks and on decoded masks
    models = {}
    for d, c in zip(a.run_dirs, cfgs):
        final_models(d, c, ds, task, models)
    ev = {}
    for s, lst in models.items():
        ev[s] = {
            "real_test": [task.evaluate(m, ds.x_test, ds.y_test) for _, m, _, _ in lst],
            "decoded": [task.evaluate(m, x_dec, y_dec) for _, m, _, _ in lst],
            "seeds": [seed for seed, *_ in lst],
            "n_labelled": lst[0][2]["records"][-1]["n_labelled"],
        }
    md += [
        "## Final target models (last round) on real test masks vs decoded masks (MSE x 1e3)",
        "",
        f"| strategy | labels | real test masks | decoded masks (z ~ N(0, I)) | ratio to {a.baseline}: real | "
        f"ratio to {a.baseline}: decoded |",
        "|---|---|---|---|---|---|",
    ]
    base = ev.get(a.baseline)
    for s, e in ev.items():
        r, d = np.asarray(e["real_test"]), np.asarray(e["decoded"])
        if base:
            br, bd = np.asarray(base["real_test"]), np.asarray(base["decoded"])
            ratio = f"{r.mean() / br.mean():.2f} | {d.mean() / bd.mean():.2f}"
        else:
            ratio = "- | -"
        md.append(
            f"| {s} | {e['n_labelled']} | {r.mean():.3f} ± {r.std(ddof=1) if len(r) > 1 else 0:.3f} | "
            f"{d.mean():.3f} ± {d.std(ddof=1) if len(d) > 1 else 0:.3f} | {ratio} |"
        )
    md.append("")

    # 5. what the synthesizing strategies actually labelled (all seeds)
    labelled = {}
    for s, lst in models.items():
        xs, ys = [], []
        for _, _, st, d in lst:
            with np.load(d / st["arrays"]) as f:
                if "synthetic/x" in f.files:
                    xs.append(f["synthetic/x"])
                    ys.append(f["synthetic/y"])
        if xs:
            x, y = np.concatenate(xs), np.concatenate(ys)
            labelled[s] = (stress_stats(y, x), shape_stats(x), len(x))
    if labelled:
        keys = STRESS_KEYS + SHAPE_KEYS
        names = list(labelled)
        md += [
            "## Masks the synthesizing strategies labelled (all seeds, all rounds): mean ± std",
            "",
            "| statistic | real pool masks | " + " | ".join(f"{s} ({labelled[s][2]})" for s in names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for k in keys:
            src = s_real if k in STRESS_KEYS else g_real
            cells = []
            for s in names:
                v = labelled[s][0][k] if k in STRESS_KEYS else labelled[s][1][k]
                cells.append(f"{v.mean():.2f} ± {v.std():.2f} (KS {stats.ks_2samp(src[k], v).statistic:.2f})")
            md.append(f"| {k} | {src[k].mean():.2f} ± {src[k].std():.2f} | " + " | ".join(cells) + " |")
        md.append("")

    text = "\n".join(md)
    print(text)
    out = a.out or a.run_dirs[0] / "why.md"
    out.write_text(text)
    summary = {
        "reject_rate": float(reject),
        "n_decoded": int(len(x_dec)),
        "n_real": int(len(x_real)),
        "classifier_pixels": pix,
        "classifier_features": fea,
        "classifier_pixels_reconstructions": pix_rec,
        "stress_real": {k: float(v.mean()) for k, v in s_real.items()},
        "stress_decoded": {k: float(v.mean()) for k, v in s_dec.items()},
        "shape_real": {k: float(v.mean()) for k, v in g_real.items()},
        "shape_decoded": {k: float(v.mean()) for k, v in g_dec.items()},
        "models": ev,
    }
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=float))


if __name__ == "__main__":
    main()
