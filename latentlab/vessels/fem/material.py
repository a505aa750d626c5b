"""The wall's material law: modified Mooney-Rivlin, nearly incompressible, in mixed form.

Paper, Appendix A.2 (Teng et al. 2014), plane strain (F33 = 1)::

    W = c1 (I1bar - 3) + D1 [exp(D2 (I1bar - 3)) - 1] + p (J - 1) - p^2 / (2 kappa)

with I1bar = J^(-2/3) I1 and I1 = tr(C) of the 3-D right Cauchy-Green tensor (C33 = 1),
c1 = 0.138 kPa, D1 = 3.833 kPa, D2 = 18.803. The pressure field ``p`` is the paper's Lagrange
multiplier (a perturbed-Lagrangian form); ``kappa`` = 1000 mu0 (Poisson ratio 0.4995) keeps the
system regular (p - kappa (J - 1) = 0 weakly) while being incompressible to 0.1 %. The
small-strain shear modulus is mu0 = 2 (c1 + D1 D2) = 144.4 kPa (expand W to second order in
I1bar - 3 and compare with the neo-Hookean mu/2 (I1bar - 3)).

The material is hyperelastic, hence path independent: the stress at the systolic peak depends on
the peak pressure only (:mod:`.load`). Here: the stresses (first Piola, Cauchy, the larger
principal value) and the consistent tangent dP/dF, hand-derived and checked against finite
differences in ``tests/test_fem.py``. Units: kPa.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MooneyRivlin", "first_piola", "material_tangent", "cauchy_stress", "max_principal"]


@dataclass(frozen=True)
class MooneyRivlin:
    """Modified Mooney-Rivlin parameters (paper Eq. 3, Teng et al. 2014)."""

    c1: float = 0.138  # kPa, paper A.2
    D1: float = 3.833  # kPa, paper A.2
    D2: float = 18.803  # dimensionless, paper A.2
    kappa_ratio: float = 1000.0
    # bulk / shear modulus: nu = 0.4995, incompressible to ~0.1 %; the mixed form does not
    # lock, larger values only cost Newton conditioning.

    @property
    def mu0(self) -> float:
        """Small-strain shear modulus 2 (c1 + D1 D2), kPa."""
        return 2.0 * (self.c1 + self.D1 * self.D2)

    @property
    def kappa(self) -> float:
        """Bulk modulus, kPa."""
        return self.kappa_ratio * self.mu0


def _cof(F: np.ndarray) -> np.ndarray:
    """Cofactor J F^-T of 2 x 2 matrices, shape (..., 2, 2); linear in F in 2-D."""
    c = np.empty_like(F)
    c[..., 0, 0] = F[..., 1, 1]
    c[..., 0, 1] = -F[..., 1, 0]
    c[..., 1, 0] = -F[..., 0, 1]
    c[..., 1, 1] = F[..., 0, 0]
    return c


_DCOF = np.zeros((2, 2, 2, 2))  # d cof(F)_iJ / d F_kL (constant in 2-D)
_DCOF[0, 0, 1, 1] = _DCOF[1, 1, 0, 0] = 1.0
_DCOF[0, 1, 1, 0] = _DCOF[1, 0, 0, 1] = -1.0


def _iso_terms(F: np.ndarray, mat: MooneyRivlin):
    J = F[..., 0, 0] * F[..., 1, 1] - F[..., 0, 1] * F[..., 1, 0]
    cof = _cof(F)
    FinvT = cof / J[..., None, None]
    I1 = np.einsum("...ij,...ij->...", F, F) + 1.0  # + C33 = 1 (plane strain)
    Jm23 = J ** (-2.0 / 3.0)
    I1bar = Jm23 * I1
    e = np.exp(np.clip(mat.D2 * (I1bar - 3.0), None, 700.0))
    dpsi = mat.c1 + mat.D1 * mat.D2 * e
    d2psi = mat.D1 * mat.D2**2 * e
    G = Jm23[..., None, None] * (2.0 * F - (2.0 / 3.0) * I1[..., None, None] * FinvT)
    return J, cof, FinvT, I1, Jm23, dpsi, d2psi, G


def first_piola(F: np.ndarray, p: np.ndarray, mat: MooneyRivlin) -> np.ndarray:
    """First Piola-Kirchhoff stress of the mixed modified Mooney-Rivlin material.

    Parameters
    ----------
    F : ndarray, shape (..., 2, 2)
        In-plane deformation gradient (F33 = 1).
    p : ndarray, shape (...)
        Pressure field (kPa, positive in tension): the Lagrange multiplier.
    mat : MooneyRivlin

    Returns
    -------
    P : ndarray, shape (..., 2, 2), kPa
        dW/dF = psi'(I1bar) dI1bar/dF + p cof(F).
    """
    J, cof, _, _, _, dpsi, _, G = _iso_terms(F, mat)
    return dpsi[..., None, None] * G + p[..., None, None] * cof


def material_tangent(F: np.ndarray, p: np.ndarray, mat: MooneyRivlin) -> np.ndarray:
    """Consistent tangent dP/dF at fixed p (hand-derived).

    With G = dI1bar/dF = J^(-2/3) (2 F - 2/3 I1 F^-T)::

        A = psi'' G (x) G + psi' dG/dF + p dcof/dF
        dG/dF = -2/3 G (x) F^-T + J^(-2/3) [2 I - 4/3 F^-T (x) F + 2/3 I1 F^-T_iL F^-T_kJ]

    Returns
    -------
    A : ndarray, shape (..., 2, 2, 2, 2), kPa
        ``A[..., i, J, k, L] = dP_iJ / dF_kL``.
    """
    J, cof, FinvT, I1, Jm23, dpsi, d2psi, G = _iso_terms(F, mat)
    eye4 = np.einsum("ik,JL->iJkL", np.eye(2), np.eye(2))
    dG = (-2.0 / 3.0) * np.einsum("...iJ,...kL->...iJkL", G, FinvT)
    dG += Jm23[..., None, None, None, None] * (
        2.0 * eye4
        - (4.0 / 3.0) * np.einsum("...iJ,...kL->...iJkL", FinvT, F)
        + (2.0 / 3.0) * I1[..., None, None, None, None] * np.einsum("...iL,...kJ->...iJkL", FinvT, FinvT)
    )
    A = d2psi[..., None, None, None, None] * np.einsum("...iJ,...kL->...iJkL", G, G)
    A += dpsi[..., None, None, None, None] * dG
    A += p[..., None, None, None, None] * _DCOF
    return A


def cauchy_stress(F: np.ndarray, p: np.ndarray, mat: MooneyRivlin) -> np.ndarray:
    """In-plane Cauchy stress sigma = P F^T / J, shape (..., 2, 2), kPa."""
    P = first_piola(F, p, mat)
    J = F[..., 0, 0] * F[..., 1, 1] - F[..., 0, 1] * F[..., 1, 0]
    return np.einsum("...iK,...jK->...ij", P, F) / J[..., None, None]


def max_principal(sig: np.ndarray) -> np.ndarray:
    """Larger eigenvalue of symmetric 2 x 2 tensors, shape (..., 2, 2) -> (...)."""
    a, b, c = sig[..., 0, 0], sig[..., 1, 1], 0.5 * (sig[..., 0, 1] + sig[..., 1, 0])
    return 0.5 * (a + b) + np.sqrt(0.25 * (a - b) ** 2 + c**2)
