"""The load: a pulsatile lumen pressure, applied quasi-statically up to its systolic peak.

Inertia is dropped: the shear-wave speed sqrt(mu/rho) = sqrt(144 kPa / 1050 kg/m^3) ~ 12 m/s
crosses a ~5 mm vessel in ~0.4 ms, three orders of magnitude below the ~0.3 s systolic upstroke,
so rho v_tt in the paper's Eq. (4) is negligible. The lumen pressure follows a template waveform
(:func:`pressure_waveform`) from 0 to the diastolic, then up the systolic upstroke to the peak
(:func:`load_schedule`); the material is hyperelastic, so the peak state does not depend on the
path, which only sets Newton's starting points. Units: kPa, s.
"""

from __future__ import annotations

import numpy as np

from ...exceptions import ConfigError

__all__ = ["MMHG_KPA", "DIASTOLIC_KPA", "SYSTOLIC_KPA", "pressure_waveform", "load_schedule"]

MMHG_KPA = 0.1333224  # kPa per mmHg
DIASTOLIC_KPA = 80 * MMHG_KPA  # 10.67 kPa, template diastole
SYSTOLIC_KPA = 120 * MMHG_KPA  # 16.0 kPa, template systole


def pressure_waveform(
    t,
    *,
    diastolic_kpa: float = DIASTOLIC_KPA,
    systolic_kpa: float = SYSTOLIC_KPA,
    period_s: float = 0.8,
    t_systole_s: float = 0.25,
):
    """Template pulsatile lumen pressure, periodic in ``t``.

    A smooth rise from diastole at t = 0 to systole at ``t_systole_s`` (sin^2 upstroke), then
    a smooth decay back to diastole at the end of the period (cos^2). 0.8 s is a 75 bpm
    heartbeat; the peak at ~30 % of the cycle is typical of coronary/aortic pressure.

    Parameters
    ----------
    t : float or ndarray
        Time, s.
    diastolic_kpa, systolic_kpa : float
        Minimum and maximum pressure, kPa (default 80 and 120 mmHg).
    period_s, t_systole_s : float
        Cycle length and time of the systolic peak, s (0 < t_systole_s < period_s).

    Returns
    -------
    float or ndarray, kPa
    """
    if not 0.0 < t_systole_s < period_s:
        raise ConfigError("need 0 < t_systole_s < period_s")
    ph = np.mod(np.asarray(t, dtype=float), period_s)
    up = np.sin(0.5 * np.pi * ph / t_systole_s) ** 2
    down = np.cos(0.5 * np.pi * (ph - t_systole_s) / (period_s - t_systole_s)) ** 2
    shape = np.where(ph <= t_systole_s, up, down)
    out = diastolic_kpa + (systolic_kpa - diastolic_kpa) * shape
    return float(out) if np.ndim(out) == 0 else out


def load_schedule(pressure_kpa: float, n_preload: int = 1, n_steps: int = 2) -> np.ndarray:
    """Lumen pressures of the quasi-static load steps, ending at the systolic peak.

    ``n_preload`` equal steps from the unloaded mask to diastole, then ``n_steps`` samples of
    :func:`pressure_waveform` on the systolic upstroke. The template is scaled so that its
    peak is ``pressure_kpa`` (diastole = 2/3 of it, as 80/120 mmHg). The material is
    hyperelastic, so the final state depends on the peak only; the path sets the Newton
    starting points.

    Returns
    -------
    ndarray, shape (n_preload + n_steps,), kPa, increasing, last = ``pressure_kpa``.
    """
    if n_preload < 1 or n_steps < 1:
        raise ConfigError("n_preload and n_steps must be >= 1")
    ratio = DIASTOLIC_KPA / SYSTOLIC_KPA
    pre = ratio * np.arange(1, n_preload + 1) / n_preload
    t = 0.25 * np.arange(1, n_steps + 1) / n_steps
    up = pressure_waveform(t) / SYSTOLIC_KPA
    return pressure_kpa * np.concatenate([pre, np.atleast_1d(up)])
