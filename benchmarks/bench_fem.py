"""Benchmark of the open labeling tool (latentlab.fem) against an earlier version of itself.

Usage::

    python benchmarks/bench_fem.py            # full run, ~2-4 min on an idle machine
    python benchmarks/bench_fem.py --quick    # fewer masks and repeats, ~1 min
    python benchmarks/bench_fem.py --annuli-only  # random annuli vs the consistent-annulus set, ~2 min

Prints markdown (date, machine, command, load average) to paste into BENCHMARKS.md:

1. Annuli (64 x 64 and 128 x 128): relative L2 error of the hoop stress against Lame on the
   wall pixels more than 1.5 px inside the wall, with the nominal radii and with the radii of
   circles of the mask's own lumen / outer pixel areas; the lumen area enclosed by the mesh
   against the lumen pixel count; time per mask at 0.05 and 16 kPa; baseline vs the current
   solver with the previous border (``boundary="area"``) vs current. Then random off-centre
   annuli (the worst case of "any annulus").
2. Generated vessel masks: time per mask, Newton iterations and factorisations, and how much
   the stress maps changed, next to the discretisation error of the current solver; and the
   64 x 64 maps against the same vessels labelled at 4x the resolution (the generator draws
   smooth curves, so the fine map is the reference).
3. Per-phase profile of one mask (cProfile, both solvers, same categories).
4. Throughput of :class:`latentlab.labeling.FEMLabeler` (its process pool) with 1 and N
   processes.

The baseline is ``latentlab/fem.py`` at git revision ``--baseline`` (default: the last
revision before the accuracy and speed work), loaded from ``git show`` into a temporary
module; it is skipped if git cannot provide it. One core per process: BLAS/OpenMP threads
are pinned to 1 before numpy is imported. Times are the minimum over ``--repeat`` runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from latentlab.vessels import annuli, fem  # noqa: E402
from latentlab.vessels import FEMLabeler  # noqa: E402
from latentlab.vessels import generate_vessels  # noqa: E402

BASELINE = "528e3b6"
REPO = Path(__file__).resolve().parents[1]

# (label, centre or None = image centre, a, b, size): the four 64 x 64 annuli, a thin
# wall, and 128 x 128 cases
ANNULI = [
    ("centred", None, 10.0, 20.0, 64),
    ("off-centre", (30.3, 33.6), 9.0, 22.0, 64),
    ("off-centre", (33.4, 30.7), 13.5, 21.0, 64),
    ("thick wall, small lumen", None, 6.5, 25.5, 64),
    ("thin wall", None, 6.0, 10.0, 64),
    ("centred", None, 20.0, 40.0, 128),
    ("off-centre, thick", (61.3, 66.6), 13.0, 50.0, 128),
    ("thin wall", None, 30.0, 34.0, 128),
]
QUICK_ANNULI = [0, 1, 2, 3, 4, 5]


def load_baseline(rev: str):
    """The module ``latentlab/fem.py`` at git revision ``rev``, or None."""
    try:
        src = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{rev}:latentlab/fem.py"], check=True, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"<!-- baseline {rev} unavailable: {e} -->", file=sys.stderr)
        return None
    path = Path(tempfile.mkdtemp()) / "fem_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("fem_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["fem_baseline"] = mod  # picklable by name in forked workers
    spec.loader.exec_module(mod)
    return mod


def annulus(centre, a, b, size):
    cx, cy = (size / 2, size / 2) if centre is None else centre
    y, x = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(x - cx, y - cy)
    return ((r >= a) & (r < b)).astype(np.uint8), r


def lumen_pixels(m):
    lab, _ = ndimage.label(m == 0)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    return int(np.sum((lab > 0) & ~np.isin(lab, edge)))


def lame(a, b, r, p):
    return p * a**2 / (b**2 - a**2) * (1 + b**2 / r**2)


def enclosed_lumen(wall_mesh) -> float:
    """Area enclosed by the lumen border of a mesh, px^2."""
    mesh = wall_mesh.mesh
    p = mesh.p / wall_mesh.pixel_mm
    f = mesh.boundaries["lumen"]
    a, b = mesh.facets[:, f]
    c = mesh.t[:, mesh.f2t[0, f]].sum(axis=0) - a - b
    left = (p[0, b] - p[0, a]) * (p[1, c] - p[1, a]) - (p[1, b] - p[1, a]) * (p[0, c] - p[0, a])
    a, b = np.where(left > 0, a, b), np.where(left > 0, b, a)
    return abs(0.5 * float(np.sum(p[0, a] * p[1, b] - p[0, b] * p[1, a])))


def timed(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def annulus_rows(mods, cases, repeat):
    rows = []
    for label, centre, a, b, size in cases:
        m, r = annulus(centre, a, b, size)
        n_lumen = lumen_pixels(m)
        ae, be = np.sqrt(n_lumen / np.pi), np.sqrt((n_lumen + m.sum()) / np.pi)
        sel = (m == 1) & (r >= a + 1.5) & (r <= b - 1.5)
        res = {}
        for name, mod in mods.items():
            t_lo, (s, info) = timed(lambda: mod.stress_map(m, 0.05, return_info=True), repeat)
            t_hi, _ = timed(lambda: mod.stress_map(m, 16.0), repeat)
            err = [
                np.linalg.norm((s - ex)[sel]) / np.linalg.norm(ex[sel])
                for ex in (lame(a, b, r, 0.05), lame(ae, be, r, 0.05))
            ]
            res[name] = dict(err=err, t_lo=t_lo, t_hi=t_hi, area=enclosed_lumen(info["wall_mesh"]) / n_lumen)
        rows.append((label, centre, a, b, size, int(m.sum()), n_lumen, res))
    return rows


def print_annuli(rows, names):
    print(
        "| annulus (centre, a, b px) | image | wall px | lumen px / pi a^2 | "
        "enclosed lumen / lumen px | L2 error vs Lame | error vs Lame of the mask's areas | "
        "time 0.05 kPa | time 16 kPa | speed-up 16 kPa |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    two = "baseline" in names and len(names) >= 2

    def fmt(res, key, f):
        return " / ".join(f(res[n][key]) for n in names)

    for label, centre, a, b, size, n_wall, n_lumen, res in rows:
        c = "centre" if centre is None else f"({centre[0]}, {centre[1]})"
        speed = f"x{res[names[0]]['t_hi'] / res[names[-1]]['t_hi']:.1f}" if two else "-"
        print(
            f"| {label}: {c}, {a:g}, {b:g} | {size}x{size} | {n_wall} | "
            f"{n_lumen / (np.pi * a * a):.3f} | {fmt(res, 'area', lambda v: f'{v:.3f}')} | "
            f"{fmt(res, 'err', lambda v: f'{100 * v[0]:.1f} %')} | "
            f"{fmt(res, 'err', lambda v: f'{100 * v[1]:.1f} %')} | "
            f"{fmt(res, 't_lo', lambda v: f'{v:.2f} s')} | "
            f"{fmt(res, 't_hi', lambda v: f'{v:.2f} s')} | {speed} |"
        )


def vessel_section(mods, masks, n_disc):
    """Per-mask time, iterations, and the change of the maps against discretisation error."""
    out, maps = {}, {}
    for name, mod in mods.items():
        mod.stress_map(masks[0])  # warm-up
        times, its, facts, ss = [], [], [], []
        for m in masks:
            t0 = time.perf_counter()
            s, info = mod.stress_map(m, return_info=True)
            times.append(time.perf_counter() - t0)
            its.append(info["n_newton"])
            facts.append(info.get("n_factorisations", info["n_newton"]))
            ss.append(s)
        out[name] = dict(times=np.array(times), its=its, facts=facts)
        maps[name] = ss
    new = maps["current"]
    inner = [ndimage.binary_erosion(m == 1) for m in masks]

    def rel(a, b, sel):
        return float(np.linalg.norm((a - b)[sel]) / np.linalg.norm(b[sel]))

    diffs = {}
    for other in [k for k in maps if k != "current"]:
        diffs[f"current vs {other}"] = (
            [rel(n, o, m == 1) for n, o, m in zip(new, maps[other], masks)],
            [rel(n, o, s) for n, o, s in zip(new, maps[other], inner)],
            [abs(n.max() / o.max() - 1) for n, o in zip(new, maps[other])],
        )
    k = min(n_disc, len(masks))
    fine = [fem.stress_map(m, refine=1) for m in masks[:k]]
    diffs[f"current: refine=1 vs 0 (FE error on fixed geometry, {k} masks)"] = (
        [rel(n, f, m == 1) for n, f, m in zip(new, fine, masks)],
        [rel(n, f, s) for n, f, s in zip(new, fine, inner)],
        [abs(n.max() / f.max() - 1) for n, f in zip(new, fine)],
    )
    old_mesh = [fem.stress_map(m, boundary="laplace", smooth_passes=3) for m in masks[:k]]
    diffs[f"current solver, new vs old border (geometry, {k} masks)"] = (
        [rel(n, o, m == 1) for n, o, m in zip(new, old_mesh, masks)],
        [rel(n, o, s) for n, o, s in zip(new, old_mesh, inner)],
        [abs(n.max() / o.max() - 1) for n, o in zip(new, old_mesh)],
    )
    if "area border" in maps:
        a8 = maps["area border"]
        other = [fem.stress_map(m, boundary="area", smooth_passes=5) for m in masks[:k]]
        diffs[f"area border: 5 vs 8 passes (sub-pixel border uncertainty, {k} masks)"] = (
            [rel(n, o, m == 1) for n, o, m in zip(a8, other, masks)],
            [rel(n, o, s) for n, o, s in zip(a8, other, inner)],
            [abs(n.max() / o.max() - 1) for n, o in zip(a8, other)],
        )
    return out, diffs


def print_vessels(out, diffs, n):
    print(
        f"| {n} generated 64x64 masks, 16 kPa | time per mask (median / p90 / max) | "
        "Newton iterations (median / max) | factorisations (median) |"
    )
    print("|---|---|---|---|")
    for name, o in out.items():
        t = o["times"]
        print(
            f"| {name} | {np.median(t):.3f} / {np.percentile(t, 90):.3f} / {t.max():.3f} s | "
            f"{int(np.median(o['its']))} / {max(o['its'])} | {int(np.median(o['facts']))} |"
        )
    if "baseline" in out:
        r = out["baseline"]["times"] / out["current"]["times"]
        print(f"| speed-up per mask | median x{np.median(r):.1f} (min x{r.min():.1f}) | | |")
    print()
    print(
        "| stress maps (relative L2 per mask) | all wall pixels: median / p90 / max | "
        "pixels off the border: median / max | peak stress change: median / max |"
    )
    print("|---|---|---|---|")
    for k, (a, b, c) in diffs.items():
        print(
            f"| {k} | {100 * np.median(a):.1f} / {100 * np.percentile(a, 90):.1f} / "
            f"{100 * np.max(a):.1f} % | {100 * np.median(b):.1f} / {100 * np.max(b):.1f} % | "
            f"{100 * np.median(c):.1f} / {100 * np.max(c):.1f} % |"
        )


def draw_random_annuli(n64, n128, seed=1):
    """The random off-centre annuli both tables use, in order: ``(size, centre, a, b)`` with a in
    [6, 14] px, wall 4-14 px (x2 at 128x128), centre within 2 px of the image centre."""
    rng = np.random.default_rng(seed)
    for size, n in ((64, n64), (128, n128)):
        for _ in range(n):
            f = size / 64
            a = round(rng.uniform(6, 14) * f, 2)
            b = round(min(a + rng.uniform(4, 14) * f, size / 2 - 3), 2)
            c = (round(size / 2 + rng.uniform(-2, 2), 2), round(size / 2 + rng.uniform(-2, 2), 2))
            yield size, c, a, b


def random_annuli(mods, n64, n128, seed=1):
    """Lame error (nominal radii) on random off-centre annuli: a in [6, 14] px, wall 4-14 px
    (x2 at 128x128), centre within 2 px of the image centre. Returns rows and worst cases."""
    rows, worst = [], {k: {64: 0.0, 128: 0.0} for k in mods}
    for size, c, a, b in draw_random_annuli(n64, n128, seed):
        m, r = annulus(c, a, b, size)
        sel = (m == 1) & (r >= a + 1.5) & (r <= b - 1.5)
        ex = lame(a, b, r, 0.05)
        errs = {}
        for name, mod in mods.items():
            s = mod.stress_map(m, 0.05)
            errs[name] = float(np.linalg.norm((s - ex)[sel]) / np.linalg.norm(ex[sel]))
            worst[name][size] = max(worst[name][size], errs[name])
        rows.append((c, a, b, size, errs))
    return rows, worst


def print_random_annuli(rows, worst, names):
    print("| random annulus (centre, a, b px) | image | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for c, a, b, size, errs in rows:
        print(
            f"| ({c[0]}, {c[1]}), {a:g}, {b:g} | {size}x{size} | "
            + " | ".join(f"{100 * errs[n]:.1f} %" for n in names)
            + " |"
        )
    for size in (64, 128):
        print(f"| **worst** | {size}x{size} | " + " | ".join(f"**{100 * worst[n][size]:.1f} %**" for n in names) + " |")


def random_annuli_limits(mods, n64, n128, seed=1, n_consistent=2000):
    """Random off-centre annuli (as :func:`random_annuli`) scored three ways: against Lame of the
    nominal annulus, against the closest annulus that rasterises to the same mask, and the
    spread of the consistent set itself (``latentlab.vessels.annuli``): its largest distance
    from the nominal field and the limit no map made from the mask can guarantee to beat."""
    rows = []
    for size, c, a, b in draw_random_annuli(n64, n128, seed):
        m, _ = annulus(c, a, b, size)
        res = {}
        for name, mod in mods.items():
            s = mod.stress_map(m, 0.05)
            res[name] = annuli.consistent_spread(m, c, a, b, stress=s, n=n_consistent)
        rows.append((c, a, b, size, res))
    return rows


def print_random_annuli_limits(rows, names):
    one = names[0]
    print(
        "| random annulus (centre, a, b px) | image | consistent set: spread from nominal / limit | "
        + " | ".join(f"{n}: vs nominal / vs best consistent" for n in names)
        + " |"
    )
    print("|---|---|---|" + "---|" * len(names))
    for c, a, b, size, res in rows:
        r0 = res[one]
        print(
            f"| ({c[0]}, {c[1]}), {a:g}, {b:g} | {size}x{size} | "
            f"{100 * r0['spread']:.1f} / {100 * r0['limit']:.1f} % | "
            + " | ".join(f"{100 * res[n]['nominal']:.1f} / {100 * res[n]['best']:.1f} %" for n in names)
            + " |"
        )
    for size in (64, 128):
        sub = [res for *_, sz, res in rows if sz == size]
        if not sub:
            continue
        lim = max(r[one]["limit"] for r in sub)
        spr = max(r[one]["spread"] for r in sub)
        cells = []
        for n in names:
            nom = [r[n]["nominal"] for r in sub]
            best = [r[n]["best"] for r in sub]
            cells.append(
                f"**{100 * max(nom):.1f} / {100 * max(best):.1f} %** (median {100 * np.median(nom):.1f} / "
                f"{100 * np.median(best):.1f})"
            )
        print(
            f"| **worst of {len(sub)}** | {size}x{size} | **{100 * spr:.1f} / {100 * lim:.1f} %** | "
            + " | ".join(cells)
            + " |"
        )


def fine_reference(mods, n, factor=4, seed=0):
    """64x64 maps against the same generated vessels labelled at ``factor`` x the resolution
    (block-averaged over the fine wall pixels): relative L2 over the 64x64 wall pixels that
    are wall at the fine scale too, all of them and those off the border, and the peak."""
    coarse = generate_vessels(n, seed=seed)
    fine = generate_vessels(n, seed=seed, size=64 * factor)
    refs = []
    for mk in fine:
        s = fem.stress_map(mk)
        w = (mk == 1).reshape(64, factor, 64, factor).sum(axis=(1, 3))
        refs.append((s.reshape(64, factor, 64, factor).sum(axis=(1, 3)) / np.maximum(w, 1), w))
    out = {}
    for name, mod in mods.items():
        e_all, e_in, e_pk = [], [], []
        for mk, (ref, w) in zip(coarse, refs):
            s = mod.stress_map(mk)
            full = (w == factor * factor) & (mk == 1)
            inner = full & ndimage.binary_erosion(mk == 1)
            e_all.append(np.linalg.norm((s - ref)[full]) / np.linalg.norm(ref[full]))
            e_in.append(np.linalg.norm((s - ref)[inner]) / np.linalg.norm(ref[inner]))
            e_pk.append(abs(s[inner].max() / ref[inner].max() - 1))
        out[name] = (e_all, e_in, e_pk)
    return out


def print_fine_reference(out, n, factor=4):
    print(
        f"| {n} generated vessels vs the same vessels at {factor}x resolution, 16 kPa | "
        "wall pixels: median / max | off the border: median / max | "
        "peak off the border: median / max |"
    )
    print("|---|---|---|---|")
    for name, (a, b, c) in out.items():
        print(
            f"| {name} | {100 * np.median(a):.1f} / {100 * np.max(a):.1f} % | "
            f"{100 * np.median(b):.1f} / {100 * np.max(b):.1f} % | "
            f"{100 * np.median(c):.1f} / {100 * np.max(c):.1f} % |"
        )


CATEGORIES = [
    ("sparse LU factorisation (SuperLU gstrf)", ("gstrf",)),
    ("triangular solves", ("solve' of 'SuperLU",)),
    ("numpy einsum", ("c_einsum",)),
    ("scikit-fem form assembly", ("bilinear_form.py", "linear_form.py")),
    ("scikit-fem bases (discretise)", ("cell_basis.py", "facet_basis.py")),
]


def profile(mod, mask, pressure=16.0):
    """Seconds per category of one stress_map call (cProfile; tottime, or cumtime for
    scikit-fem entry points), the total, and the Newton counts."""
    mod.stress_map(mask, pressure)
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    _, info = mod.stress_map(mask, pressure, return_info=True)
    pr.disable()
    total = time.perf_counter() - t0
    st = pstats.Stats(pr).stats
    res = {}
    for cat, keys in CATEGORIES:
        v = 0.0
        for (file, _, func), (_, _, tt, ct, _) in st.items():
            name = f"{file}:{func}" if not file.startswith("~") else func
            if cat.startswith("scikit-fem form"):
                if any(k in file for k in keys) and func == "assemble":
                    v += ct
            elif cat.startswith("scikit-fem bases"):
                if any(k in file for k in keys) and func == "__init__":
                    v += ct
            elif any(k in name or k in repr(func) for k in keys):
                v += tt
        res[cat] = v
    n_steps = sum(1 for h in info["history"] if h.get("converged"))
    return res, total, info, n_steps


def print_profile(profiles, mask_desc):
    names = list(profiles)
    print(f"Per-phase profile, {mask_desc}, 16 kPa (cProfile adds ~10 % overhead):\n")
    print("| phase | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for cat, _ in CATEGORIES:
        cells = []
        for n in names:
            res, total, _, _ = profiles[n]
            cells.append(f"{1e3 * res[cat]:.0f} ms ({100 * res[cat] / total:.0f} %)")
        print(f"| {cat} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        res, total, _, _ = profiles[n]
        rest = total - sum(res.values())
        cells.append(f"{1e3 * rest:.0f} ms ({100 * rest / total:.0f} %)")
    print("| everything else | " + " | ".join(cells) + " |")
    print("| total | " + " | ".join(f"{1e3 * profiles[n][1]:.0f} ms" for n in names) + " |")
    print(
        "| load steps converged / Newton iterations / factorisations | "
        + " | ".join(
            f"{p[3]} / {p[2]['n_newton']} / {p[2].get('n_factorisations', p[2]['n_newton'])}" for p in profiles.values()
        )
        + " |"
    )
    timing = profiles["current"][2].get("timing")
    if timing:
        print(
            "\nCurrent solver, its own phase timers (`info['timing']`, no profiler): "
            + ", ".join(f"{k} {1e3 * v:.0f} ms" for k, v in timing.items())
        )


def throughput(masks, workers, repeat=2):
    """Masks per second of FEMLabeler (no cache) with 1 and ``workers`` processes, best of
    ``repeat`` alternating runs (pool start-up included)."""
    x = np.asarray(masks, dtype=np.float32)[:, None]
    rates = {}
    for _ in range(repeat):
        for w in sorted({1, workers}):
            lab = FEMLabeler(scale_kpa=200.0, cache_dir=None, workers=w)
            t0 = time.perf_counter()
            res = lab.label(x)
            dt = time.perf_counter() - t0
            if not res.ok.all():
                raise RuntimeError(f"labeling failed: {res.errors}")
            rates[w] = max(rates.get(w, 0.0), len(x) / dt)
    return rates


def annuli_only(n: int, seed: int = 1) -> None:
    """``--annuli-only``: the random-annulus table with the consistent-annulus columns."""
    t0, load0 = time.perf_counter(), os.getloadavg()
    mods = {
        "current": fem,
        "area border": SimpleNamespace(stress_map=partial(fem.stress_map, boundary="area")),
        "consistent border": SimpleNamespace(stress_map=partial(fem.stress_map, boundary="consistent")),
    }
    rows = random_annuli_limits(mods, n, n, seed=seed)
    load1 = os.getloadavg()
    print(
        f"Command: `python {' '.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])}` "
        f"({time.perf_counter() - t0:.0f} s; load average {', '.join(f'{v:.2f}' for v in load0)} -> "
        f"{', '.join(f'{v:.2f}' for v in load1)} on {os.cpu_count()} CPUs). Random off-centre annuli (seed {seed}; "
        "a 6-14 px, wall 4-14 px, x2 at 128, centre within 2 px of the image centre), relative L2 error of "
        "the hoop stress on the wall pixels more than 1.5 px inside the nominal wall, 0.05 kPa. "
        "Consistent set: 2,000 exact annuli that rasterise to the same mask "
        "(`latentlab.vessels.annuli.consistent_spread`).\n"
    )
    print_random_annuli_limits(rows, list(mods))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases, masks and repeats")
    ap.add_argument("--n", type=int, default=None, help="generated masks (default 40, quick 10)")
    ap.add_argument(
        "--n-throughput", type=int, default=None, help="masks for the throughput run (default 120, quick 30)"
    )
    ap.add_argument("--workers", type=int, default=2, help="processes for the throughput run")
    ap.add_argument("--repeat", type=int, default=None, help="timing repeats (default 3, quick 1)")
    ap.add_argument("--baseline", default=BASELINE, help="git revision of the baseline fem.py")
    ap.add_argument("--seed", type=int, default=0, help="seed of the vessel generator")
    ap.add_argument(
        "--annuli-only",
        action="store_true",
        help="only the random-annulus table with the consistent-annulus columns (a few minutes)",
    )
    ap.add_argument(
        "--n-annuli", type=int, default=30, help="random annuli per image size for --annuli-only (default 30)"
    )
    args = ap.parse_args(argv)
    if args.annuli_only:
        annuli_only(args.n_annuli)
        return
    n = args.n or (10 if args.quick else 40)
    n_tp = args.n_throughput or (30 if args.quick else 120)
    repeat = args.repeat or (1 if args.quick else 3)
    cases = [ANNULI[i] for i in QUICK_ANNULI] if args.quick else ANNULI

    t_start, load_start = time.perf_counter(), os.getloadavg()
    base = load_baseline(args.baseline) if args.baseline else None
    area = SimpleNamespace(stress_map=partial(fem.stress_map, boundary="area"))
    mods = {"baseline": base} if base is not None else {}
    mods.update({"area border": area, "current": fem})
    names = list(mods)
    rev = (
        subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "?"
    )

    rows = annulus_rows(mods, cases, repeat)
    borders = {"area border": area, "current": fem}
    rand_rows, worst = random_annuli(borders, *((4, 2) if args.quick else (12, 6)))
    masks = list(generate_vessels(n, seed=args.seed))
    out, diffs = vessel_section(mods, masks, n_disc=5 if args.quick else 10)
    n_fine = 3 if args.quick else 8
    fine = fine_reference(borders, n_fine, seed=args.seed)
    pmask, _ = annulus(None, 10.0, 20.0, 64)
    profiles = {k: profile(m, pmask) for k, m in mods.items() if k != "area border"}
    tp_masks = list(generate_vessels(n_tp, seed=args.seed + 1))
    rates = throughput(tp_masks, args.workers)
    load_end = os.getloadavg()

    print("| quantity | value |\n| --- | --- |")
    for k, v in [
        ("date", datetime.datetime.now().isoformat(timespec="seconds")),
        ("command", "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])),
        (
            "machine",
            f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        ),
        (
            "load average (1, 5, 15 min), start / end",
            " / ".join(", ".join(f"{v:.2f}" for v in la) for la in (load_start, load_end))
            + f" on {os.cpu_count()} CPUs",
        ),
        (
            "code",
            (
                f"current = HEAD {rev}; area border = current solver with "
                "boundary='area' (solver version 2's border); baseline = latentlab/fem.py at "
                f"{args.baseline}"
                if base is not None
                else f"current = HEAD {rev}; baseline unavailable"
            ),
        ),
        ("timing", f"1 thread per process, min of {repeat} run(s) per annulus"),
        ("benchmark wall time", f"{time.perf_counter() - t_start:.0f} s"),
    ]:
        print(f"| {k} | {v} |")
    cols = " / ".join(names)
    print(f"\nAnnuli (cells: {cols}); L2 error on the wall pixels more than 1.5 px inside the wall, at 0.05 kPa:\n")
    print_annuli(rows, names)
    print("\nRandom off-centre annuli, L2 error vs Lame (nominal radii), 0.05 kPa:\n")
    print_random_annuli(rand_rows, worst, list(borders))
    print()
    print_vessels(out, diffs, n)
    print()
    print_fine_reference(fine, n_fine)
    print()
    print_profile(profiles, "annulus (32, 32), a = 10, b = 20 px (948 wall pixels)")
    print()
    print(f"Throughput, FEMLabeler (process pool, no cache), {n_tp} generated masks:\n")
    print("| processes | masks/s | speed-up |\n|---|---|---|")
    for w, r in rates.items():
        print(f"| {w} | {r:.1f} | x{r / rates[1]:.2f} |")
    print("\npaper's VasFEM: ~120 s per 64x64 mask (Appendix A.2)")


if __name__ == "__main__":
    main()
