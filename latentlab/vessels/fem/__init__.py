"""Open labeling tool: plaque structural stress of a vessel-wall mask by finite elements.

This replaces the paper's closed "VasFEM" (Appendix A.2) with a validated, vectorised
scikit-fem solver. Input: a binary wall mask (:mod:`latentlab.vessels.masks`); output: the
in-plane maximum principal Cauchy stress in kPa at every wall pixel at the systolic peak of a
pulsatile lumen pressure, 0 outside the wall (:func:`stress_map`).

The rooms, in the order a mask goes through them:

==============  ==================================================================================
``material``    the modified Mooney-Rivlin law in mixed form: stresses and the consistent tangent
``load``        the pulsatile lumen pressure and the quasi-static load steps to its peak
``mesh``        two triangles per wall pixel, lumen and outer borders (:func:`mesh_from_mask`)
``border``      the staircase border replaced by a smooth one (Laplacian, area restore, low-pass)
``forms``       Taylor-Hood P2-P1 weak forms, the discretisation and its vectorised assembly
``settings``    :class:`FEMSettings`, every setting of the solver, also the label cache's key
``solver``      Newton with load stepping, and the public :func:`stress_map`
==============  ==================================================================================

Model, in short (paper, Appendix A.2; Teng et al. 2014): plane strain, total Lagrangian,
quasi-static; modified Mooney-Rivlin, nearly incompressible, with the paper's pressure field
as a Lagrange multiplier; Taylor-Hood elements; a follower lumen pressure; Newton with the
consistent tangent. Each room's docstring gives its part and why. The accuracy (against
Lame's solution, against the annuli a mask admits, :mod:`latentlab.vessels.annuli`) and the
cost are measured by ``benchmarks/bench_fem.py``; the numbers are in BENCHMARKS.md (the FEM
section), not here.

Units: lengths mm, stresses and pressures kPa. With traction loading and no body force the
stress does not depend on the physical pixel size (scale invariance); ``pixel_mm`` only scales
displacements.
"""

# every room's public names (its __all__, declared once there), and only those:
# ``from latentlab.vessels.fem import X`` keeps working for every name the single module fem.py had
from . import forms, load, material, mesh, settings, solver
from .forms import *  # noqa: F403
from .load import *  # noqa: F403
from .material import *  # noqa: F403
from .mesh import *  # noqa: F403
from .settings import *  # noqa: F403
from .solver import *  # noqa: F403

__all__ = [*settings.__all__, *load.__all__, *material.__all__, *mesh.__all__, *forms.__all__, *solver.__all__]
