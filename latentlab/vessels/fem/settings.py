"""The solver's settings: one frozen, validated record, which is also the label cache's key.

:func:`~latentlab.vessels.fem.stress_map` reads every setting from a :class:`FEMSettings`, and
:class:`~latentlab.vessels.labeler.FEMLabeler` names its cache folder by the settings that differ
from the defaults (:meth:`FEMSettings.key`), plus :data:`SOLVER_VERSION`: two labelers whose
settings give the same maps share one folder, and a changed setting never returns labels of
another.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from ...checks import check_int
from ...exceptions import ConfigError
from .border import check_boundary
from .load import SYSTOLIC_KPA
from .material import MooneyRivlin
from .mesh import PIXEL_MM

__all__ = ["SOLVER_VERSION", "FEMSettings"]

SOLVER_VERSION = 3
# Bumped whenever the stress maps of the default settings change beyond the solver tolerance
# (2: borders restored to their pixel area, 8 smoothing passes; 3: Gaussian low-pass of the
# border along its arc length, boundary="lowpass"). Label caches keyed on the settings alone
# would otherwise serve maps of an older version.


@dataclass(frozen=True)
class FEMSettings:
    """Every setting of :func:`~latentlab.vessels.fem.stress_map` (validated on construction).

    Values are kept as given (an int stays an int), so that :meth:`key` names the same cache
    folder as the keyword arguments it replaces.
    """

    pressure_kpa: float = SYSTOLIC_KPA
    # systolic lumen pressure, kPa (120 mmHg); diastole is 2/3 of it (80 mmHg), see load.py
    pixel_mm: float = PIXEL_MM
    # pixel side, mm; scales the displacements only (traction load, no body force: the stress
    # is scale invariant)
    n_preload: int = 1
    # load steps from the unloaded mask to diastole (load_schedule); hyperelastic, so only
    # Newton's starting points depend on it
    n_steps: int = 2
    # load steps along the systolic upstroke
    refine: int = 0
    # uniform mesh refinements (each x4 triangles): converges the FE solution on the pixel
    # geometry, whose own error dominates, hence off
    smooth_passes: int = 8
    # Laplacian passes over the border vertices before the area restore and the low-pass
    # (0 = the staircase); 8 removes the re-entrant-corner peaks (border.py)
    boundary: str = "lowpass"
    # border reconstruction, one of border.BOUNDARIES (measured in BENCHMARKS.md, FEM section)
    follower: bool = True
    # pressure on the deformed lumen border (False: dead load on the undeformed one); the lumen
    # dilates by ~10-20 % at 120 mmHg, so the dead load is visibly wrong
    material: MooneyRivlin = field(default_factory=MooneyRivlin)
    # the paper's modified Mooney-Rivlin parameters (material.py)
    max_newton: int = 12
    # Newton iterations per load step before the step is bisected
    rtol: float = 1e-8
    # relative residual tolerance (force residual / pressure load, and volume residual)
    max_cutbacks: int = 4
    # step bisections allowed before the mask is reported as failed (never a partial map)
    skip_steps: bool = True
    # try the peak pressure directly before each scheduled step: the same state to the
    # tolerance (hyperelastic), about half the iterations

    def __post_init__(self) -> None:
        for name in ("pressure_kpa", "pixel_mm", "rtol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} must be a positive finite number, got {v!r}")
        ints = (
            ("n_preload", 1),
            ("n_steps", 1),
            ("refine", 0),
            ("smooth_passes", 0),
            ("max_newton", 1),
            ("max_cutbacks", 0),
        )
        for name, lo in ints:
            check_int(name, getattr(self, name), lo, f"FEMSettings.{name} must be a whole number >= {lo}")
        check_boundary(self.boundary)
        for name in ("follower", "skip_steps"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"FEMSettings.{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.material, MooneyRivlin):
            raise ConfigError(f"FEMSettings.material must be a MooneyRivlin, got {self.material!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings' names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes) -> FEMSettings:
        """A copy with ``changes`` (setting names); an unknown name is refused, naming the valid ones.

        ``None`` values are ignored (``stress_map(mask, None)`` keeps the pressure of the settings).
        """
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ConfigError(f"unknown FEM setting(s) {', '.join(unknown)}; valid settings: {', '.join(self.names())}")
        changes = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def key(self) -> dict:
        """The settings that differ from the defaults, by name, values as given: the label cache's key.

        An empty dict for the defaults, ``{"refine": 1}`` for ``FEMSettings(refine=1)``: the same
        dict the labeler's keyword arguments made before this record existed, so the cache folders
        of those settings did not move (``tests/test_storage.py``).
        """
        default = FEMSettings()
        return {n: getattr(self, n) for n in self.names() if getattr(self, n) != getattr(default, n)}
