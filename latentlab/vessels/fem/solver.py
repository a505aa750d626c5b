"""The solver: Newton on the discrete problem, and the public stress map of a wall mask.

* Newton-Raphson with the consistent tangent (:func:`~.forms.residual_and_tangent`), load-step
  bisection when a step fails (:func:`solve_wall`); non-convergence raises
  :class:`~latentlab.exceptions.LabelingError` with the residual histories, never a partial map.
  The peak is tried directly first (``skip_steps``; hyperelastic, so the same state to the
  tolerance), steps are backtracked on the residual norm, a factorisation is reused while Newton
  gains > 10x per step, and the fill-reducing ordering is computed once per mesh. SuperLU
  (SciPy) is the sparse solver; the tangent is symmetric to round-off (the follower pressure on
  a closed lumen is conservative), so an LDL^T would also fit (measured: BENCHMARKS.md, FEM).
* Output (:func:`stress_map`): the 2 x 2 Cauchy stress sigma = P F^T / J averaged over the
  triangles of each pixel (area weights, reference configuration), then its larger eigenvalue:
  the "plaque structural stress" of Teng et al. (2014), kPa, 0 outside the wall.

Every setting is a field of :class:`~.settings.FEMSettings`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from ...exceptions import ConfigError, LabelingError
from .forms import Discretisation, _residual, _tangent_data, discretise, residual_and_tangent
from .load import load_schedule
from .material import cauchy_stress, max_principal
from .mesh import mesh_from_mask
from .settings import FEMSettings

__all__ = ["solve_wall", "stress_map", "stress_maps"]


def _factorise(disc: Discretisation, data: np.ndarray):
    """Factorise K (``data`` in ``disc``'s pattern) with the 3 fixed dofs held at 0.

    Returns ``solve(rhs) -> dx``, reusable for several right-hand sides.

    Sparse LU (SuperLU) with diagonal pivots: the Taylor-Hood matrix is quasi-definite
    (positive definite u-u block once rigid motion is removed, negative definite -M/kappa p-p
    block), so it factorises stably without pivoting under any symmetric ordering. The
    minimum-degree ordering of the pattern (SuperLU's MMD on A^T + A) is computed at the
    first factorisation of a mesh and reused (the pattern never changes): later
    factorisations take the permuted matrix in natural order and skip the ordering. Falls
    back to SciPy's default (COLAMD, partial pivoting) if a pivot is zero or the result is
    not finite (a tangent that lost definiteness far from equilibrium).
    """
    data = data.copy()
    data[disc.bc_zero] = 0.0
    data[disc.bc_diag] = 1.0
    N = disc.n_dofs
    cache = disc.factor

    def fallback():
        A = sp.csr_matrix((data, disc.csr_indices, disc.csr_indptr), shape=(N, N)).tocsc()
        lu = spl.splu(A)

        def solve(rhs):
            b = rhs.copy()
            b[disc.fixed] = 0.0
            return lu.solve(b)

        return solve

    try:
        if "perm" not in cache:
            A = sp.csr_matrix((data, disc.csr_indices, disc.csr_indptr), shape=(N, N)).tocsc()
            lu = spl.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0)
            perm = np.argsort(lu.perm_c)
            tag = sp.csr_matrix(
                (np.arange(1, len(data) + 1, dtype=float), disc.csr_indices, disc.csr_indptr), shape=(N, N)
            )[perm][:, perm].tocsc()
            tag.sort_indices()
            cache.update(perm=perm, gather=tag.data.astype(np.int64) - 1, indices=tag.indices, indptr=tag.indptr)
            perm = np.arange(N)  # this factorisation is of the unpermuted matrix
        else:
            perm = cache["perm"]
            A = sp.csc_matrix((data[cache["gather"]], cache["indices"], cache["indptr"]), shape=(N, N))
            lu = spl.splu(A, permc_spec="NATURAL", diag_pivot_thresh=0.0)
    except RuntimeError:  # exactly singular pivot
        return fallback()

    def solve(rhs):
        b = rhs.copy()
        b[disc.fixed] = 0.0
        x = np.empty(N)
        x[perm] = lu.solve(b[perm])
        return x if np.all(np.isfinite(x)) else fallback()(rhs)

    return solve


_BACKTRACKS = 3
_REUSE_BELOW = 0.1


def _newton(disc, x, pressure, *, follower, max_newton, rtol, give_up=False, timing=None):
    """Newton iterations at one load level; returns (x, history, converged, factorisations).

    The tangent is refactorised only when the last step reduced the residual by less than
    10x: once Newton is in its fast phase, the previous factorisation gives (chord) steps
    that still gain > 10x per iteration at the cost of a triangular solve (on 35 masks:
    134 factorisations for 250 iterations, instead of 192 for 192, 16 % less time).
    Each step is backtracked (halved up to 3 times) until the relative residual
    decreases; a trial costs one residual evaluation, a few % of a tangent factorisation,
    and saves the iterations lost to the overshoot of the first, soft, tangent of the
    exponentially stiffening material (on 35 masks: 192 instead of 217 iterations).
    ``give_up`` (tries ahead of the load schedule): stop once the residual has grown 1000x
    over its start or fails to decrease after the second iteration.
    """
    scale_u = max(np.linalg.norm(disc.external_force(x, pressure, follower)[: disc.n_u]), 1e-300)
    clock = time.perf_counter
    tm = {} if timing is None else timing

    def evaluate(x):
        t0 = clock()
        try:
            R, F, p = _residual(disc, x, pressure, follower)
        except FloatingPointError:
            return float("inf"), None, None, None
        finally:
            tm["residual"] = tm.get("residual", 0.0) + clock() - t0
        with np.errstate(over="ignore", invalid="ignore"):  # a wild trial step: err = inf
            ru = np.linalg.norm(np.delete(R[: disc.n_u], disc.fixed)) / scale_u
            rp = np.linalg.norm(R[disc.n_u :]) / disc.scale_p
        return float(max(ru, rp)), R, F, p

    solve, n_factor = None, 0
    err, R, F, p = evaluate(x)
    hist = [err]
    for it in range(max_newton + 1):
        if not np.isfinite(err):
            return x, hist, False, n_factor
        if err <= rtol:
            return x, hist, True, n_factor
        if it == max_newton:
            break
        if give_up and (err > 1e3 * hist[0] or (it >= 2 and err >= hist[-2])):
            return x, hist, False, n_factor
        t1 = clock()
        if solve is None or hist[-1] >= _REUSE_BELOW * hist[-2]:
            data = _tangent_data(disc, F, p, pressure, follower)
            t2 = clock()
            solve = _factorise(disc, data)
            n_factor += 1
        else:
            t2 = clock()
        dx = solve(-R)
        tm["tangent"] = tm.get("tangent", 0.0) + t2 - t1
        tm["solve"] = tm.get("solve", 0.0) + clock() - t2
        alpha, best = 1.0, None
        for _ in range(_BACKTRACKS + 1):
            trial = (*evaluate(x + alpha * dx), x + alpha * dx)
            if best is None or trial[0] < best[0]:
                best = trial
            if trial[0] < err:
                break
            alpha *= 0.5
        err, R, F, p, x = best
        hist.append(err)
    return x, hist, False, n_factor


def solve_wall(
    disc: Discretisation,
    loads,
    *,
    follower: bool = True,
    max_newton: int = 12,
    rtol: float = 1e-8,
    max_cutbacks: int = 4,
    skip_steps: bool = False,
    timing: dict | None = None,
):
    """Quasi-static load stepping with Newton and step bisection.

    Parameters
    ----------
    disc : Discretisation
    loads : array_like of float
        Increasing lumen pressures, kPa (:func:`load_schedule`); the last is the target.
    follower, max_newton, rtol, max_cutbacks
        See :class:`~.settings.FEMSettings`.
    skip_steps : bool, default False
        First try the last load directly from the unloaded state (the material is
        hyperelastic, so the end state does not depend on the path). Such a try is given up
        as soon as its residual grows 1000x or stops decreasing after the second iteration;
        the scheduled loads (then bisection) take over, and it is not counted as a cutback.
    timing : dict, optional
        Accumulates seconds per phase (``residual``, ``tangent``, ``solve``).

    Returns
    -------
    x : ndarray, shape (n_dofs,)
        Converged state at the last load.
    history : list of dict
        Per attempted step: ``pressure`` (kPa), ``residuals`` (relative, per iteration),
        ``converged``, ``skip`` (a try of the last load ahead of the schedule),
        ``factorisations`` (of the tangent; the other iterations reused the previous one).

    Raises
    ------
    LabelingError
        A step failed after ``max_cutbacks`` bisections; ``err.diagnostics`` holds the history.
    """
    x = np.zeros(disc.n_dofs)
    history = []
    p_done = 0.0
    targets = list(np.asarray(loads, dtype=float))
    cuts = 0
    skip = skip_steps
    while targets:
        if skip and len(targets) > 1:
            x_new, hist, ok, nf = _newton(
                disc, x, targets[-1], follower=follower, max_newton=max_newton, rtol=rtol, give_up=True, timing=timing
            )
            history.append(
                {"pressure": float(targets[-1]), "residuals": hist, "converged": ok, "skip": True, "factorisations": nf}
            )
            if ok:
                x, p_done, targets = x_new, targets[-1], []
                continue
            skip = False  # the direct try failed: follow the schedule from here
        target = targets[0]
        x_new, hist, ok, nf = _newton(
            disc, x, target, follower=follower, max_newton=max_newton, rtol=rtol, timing=timing
        )
        history.append(
            {"pressure": float(target), "residuals": hist, "converged": ok, "skip": False, "factorisations": nf}
        )
        if ok:
            x, p_done = x_new, target
            targets.pop(0)
            continue
        cuts += 1
        if cuts > max_cutbacks:
            lines = "; ".join(
                f"p={h['pressure']:.4g} kPa: " + ", ".join(f"{r:.2e}" for r in h["residuals"]) for h in history[-4:]
            )
            err = LabelingError(
                f"Newton did not converge at lumen pressure {target:.4g} kPa after "
                f"{max_cutbacks} step bisections (max_newton={max_newton}, rtol={rtol:g}); "
                f"relative residuals of the last steps: {lines}. Try more load steps, a "
                "lower pressure, or check the mask for thin bridges."
            )
            err.diagnostics = {
                "history": history,
                "pressure_reached_kpa": p_done,
                "max_newton": max_newton,
                "rtol": rtol,
            }
            raise err
        targets.insert(0, 0.5 * (p_done + target))
    return x, history


def _pixel_stress(disc: Discretisation, F, p) -> np.ndarray:
    """Area-averaged Cauchy stress per pixel, shape (H, W, 2, 2), 0 outside the wall."""
    sig = cauchy_stress(F, p, disc.material)  # (nel, nq, 2, 2)
    wsum = np.einsum("eqij,eq->eij", sig, disc.dx)
    area = disc.dx.sum(axis=1)
    H, W = disc.wall.shape
    pix = disc.wall.pixel
    out = np.zeros((H * W, 4))
    a = np.bincount(pix, area, minlength=H * W)
    for k in range(4):
        out[:, k] = np.bincount(pix, wsum.reshape(-1, 4)[:, k], minlength=H * W)
    nz = a > 0
    out[nz] /= a[nz, None]
    return out.reshape(H, W, 2, 2)


def stress_map(
    mask,
    pressure_kpa: float | None = None,
    pixel_mm: float | None = None,
    *,
    settings: FEMSettings | None = None,
    return_info: bool = False,
    **overrides,
):
    """Maximum principal stress map of a vessel wall at the systolic peak.

    Parameters
    ----------
    mask : array_like, shape (H, W)
        Valid wall mask (0/1), see :func:`latentlab.vessels.validate_mask`.
    pressure_kpa : float, optional
        Systolic lumen pressure, kPa; default ``settings.pressure_kpa`` (16.0 kPa = 120 mmHg).
    pixel_mm : float, optional
        Pixel side, mm; default ``settings.pixel_mm`` (10/64). It does not change the stress.
    settings : FEMSettings, optional
        Every solver setting (defaults: :class:`~.settings.FEMSettings`, each field's comment
        says why); ``pressure_kpa``, ``pixel_mm`` and ``overrides`` replace its fields.
    return_info : bool, default False
        Also return a dict of diagnostics.
    **overrides
        Fields of :class:`~.settings.FEMSettings` by name (``refine=1``, ``boundary="area"``,
        ``follower=False``, ...); an unknown name is refused, naming the valid ones.

    Returns
    -------
    stress : ndarray, shape (H, W), float64, kPa
        In-plane maximum principal Cauchy stress averaged over each wall pixel; exactly 0
        outside the wall.
    info : dict
        Only with ``return_info``: ``settings`` (the :class:`FEMSettings` used), ``wall_mesh``,
        ``disc`` (:class:`Discretisation`), ``x`` (solution vector), ``sigma`` (H, W, 2, 2)
        pixel Cauchy stress (kPa), ``history`` (Newton residuals per step), ``loads`` (kPa),
        ``n_dofs``, ``n_newton`` (total iterations), ``n_factorisations`` (of the tangent),
        ``reaction`` (norm of the forces at the 3 fixed dofs relative to the load; ~0 means the
        support is free of stress), ``seconds``, ``timing`` (seconds per phase: ``mesh``,
        ``discretise``, Newton ``residual``, ``tangent`` assembly, sparse ``solve``,
        ``newton_other``, ``output``).

    Raises
    ------
    ConfigError
        A setting out of its range, or an unknown setting.
    LabelingError
        Invalid mask, or the Newton solver did not converge (``err.diagnostics``).
    """
    t0 = time.perf_counter()
    if settings is None:
        settings = FEMSettings()
    elif not isinstance(settings, FEMSettings):
        raise ConfigError(f"settings must be a FEMSettings, got {type(settings).__name__}")
    s = settings.replace(pressure_kpa=pressure_kpa, pixel_mm=pixel_mm, **overrides)
    timing = {}
    wall = mesh_from_mask(
        mask, pixel_mm=s.pixel_mm, refine=s.refine, smooth_passes=s.smooth_passes, boundary=s.boundary
    )
    t1 = time.perf_counter()
    disc = discretise(wall, s.material)
    t2 = time.perf_counter()
    timing.update(mesh=t1 - t0, discretise=t2 - t1)
    loads = load_schedule(s.pressure_kpa, s.n_preload, s.n_steps)
    x, history = solve_wall(
        disc,
        loads,
        follower=s.follower,
        max_newton=s.max_newton,
        rtol=s.rtol,
        max_cutbacks=s.max_cutbacks,
        skip_steps=s.skip_steps,
        timing=timing,
    )
    t3 = time.perf_counter()
    R, _, F, p = residual_and_tangent(disc, x, loads[-1], follower=s.follower, need_tangent=False)
    sigma = _pixel_stress(disc, F, p)
    stress = max_principal(sigma)
    stress[~(np.asarray(mask) == 1)] = 0.0
    if not np.all(np.isfinite(stress)):  # pragma: no cover - guarded by the Newton checks
        raise LabelingError("the stress map has non-finite values")
    if not return_info:
        return stress
    f_ext = disc.external_force(x, loads[-1], s.follower)
    info = {
        "settings": s,
        "wall_mesh": wall,
        "disc": disc,
        "x": x,
        "sigma": sigma,
        "history": history,
        "loads": loads,
        "n_dofs": disc.n_dofs,
        "n_newton": sum(len(h["residuals"]) - 1 for h in history),
        "n_factorisations": sum(h["factorisations"] for h in history),
        "reaction": float(np.linalg.norm(R[disc.fixed]) / np.linalg.norm(f_ext)),
        "seconds": time.perf_counter() - t0,
        "timing": {
            **timing,
            "newton_other": (t3 - t2) - sum(timing.get(k, 0.0) for k in ("residual", "tangent", "solve")),
            "output": time.perf_counter() - t3,
        },
    }
    return stress, info


def stress_maps(masks, pressure_kpa: float | None = None, pixel_mm: float | None = None, **kwargs) -> np.ndarray:
    """Sequential batch version of :func:`stress_map`.

    Parameters
    ----------
    masks : array_like, shape (n, H, W) or (n, 1, H, W)
    pressure_kpa, pixel_mm, **kwargs
        As for :func:`stress_map` (``settings`` or setting names; not ``return_info``).

    Returns
    -------
    ndarray, shape (n, H, W), float64, kPa

    Raises
    ------
    LabelingError
        For the first mask that fails, with its index in the message.
    """
    m = np.asarray(masks)
    if m.ndim == 4 and m.shape[1] == 1:
        m = m[:, 0]
    if m.ndim != 3:
        raise LabelingError(f"masks must have shape (n, H, W), got {m.shape}")
    out = np.zeros(m.shape, dtype=np.float64)
    for i, mk in enumerate(m):
        try:
            out[i] = stress_map(mk, pressure_kpa, pixel_mm, **kwargs)
        except LabelingError as e:
            err = LabelingError(f"mask {i}: {e}")
            err.diagnostics = getattr(e, "diagnostics", None)
            raise err from e
    return out
