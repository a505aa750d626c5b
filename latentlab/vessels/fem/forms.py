"""The discrete problem: Taylor-Hood weak forms and their vectorised assembly.

* Elements: Taylor-Hood P2-P1 (quadratic displacement ``ElementTriP2``, linear continuous
  pressure). It is inf-sup stable, hence locking free at any kappa, and gives smooth stresses.
  A pure-displacement P2 with a penalty bulk modulus is the cheaper alternative, but it needs
  kappa / mu ~ 100 or less to avoid volumetric locking (which makes the material noticeably
  compressible), whereas the mixed form is insensitive to kappa (``tests/test_fem.py`` checks
  the Lame solution at kappa / mu = 1000 and that raising kappa 10x barely moves the stress).
* Total Lagrangian, plane strain. The lumen pressure is a follower load: it acts on the deformed
  lumen border (Nanson's formula n da = cof(F) N dA, with its consistent load stiffness); cof is
  linear in 2-D, so the load is a precomputed vector plus a matrix times u. The outer border is
  traction free.
* Rigid-body motion is removed by fixing 3 displacement components (one vertex fully, a far
  vertex in one direction): a statically determinate support whose reactions are zero because
  the pressure on a closed border has zero net force and moment.

The physics is written once as small scikit-fem forms (:func:`internal_force`, ...); the
Newton loop evaluates the volume terms with the same integrands as batched matrix products
(:func:`residual_and_tangent`), and a test checks that they agree. Units: mm, kPa.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from skfem import Basis, BilinearForm, ElementTriP1, ElementTriP2, ElementVector, FacetBasis, LinearForm
from skfem.helpers import dot, grad

from ...exceptions import LabelingError
from .material import MooneyRivlin, _cof, first_piola, material_tangent
from .mesh import WallMesh

__all__ = [
    "internal_force",
    "material_stiffness",
    "pressure_coupling",
    "incompressibility",
    "lumen_pressure",
    "lumen_pressure_stiffness",
    "Discretisation",
    "discretise",
    "residual_and_tangent",
]


@LinearForm
def internal_force(v, w):
    """int P : grad v dX, with ``w['P']`` the first Piola stress at quadrature points."""
    return np.einsum("ij...,ij...", w["P"], grad(v))


@BilinearForm
def material_stiffness(u, v, w):
    """int grad v : A : grad u dX, with ``w['A']`` = dP/dF at quadrature points."""
    return np.einsum("ij...,ijkl...,kl...", grad(v), w["A"], grad(u))


@BilinearForm
def pressure_coupling(u, q, w):
    """int q cof(F) : grad u dX (linearised J; the u-p block). u: displacement, q: pressure."""
    return q * np.einsum("ij...,ij...", w["cof"], grad(u))


@LinearForm
def incompressibility(q, w):
    """int q (J - 1 - p / kappa) dX: weak form of p = kappa (J - 1)."""
    return q * (w["J"] - 1.0 - w["p"] / w["kappa"])


def _cof_n(H, n):
    """cof(H) n for 2 x 2 fields H (2, 2, ...) and normals n (2, ...)."""
    return np.array([H[1, 1] * n[0] - H[1, 0] * n[1], -H[0, 1] * n[0] + H[0, 0] * n[1]])


@LinearForm
def lumen_pressure(v, w):
    """External work of the lumen pressure: -P int cof(F) N . v dA (follower, Nanson).

    ``w['follow']`` = 0 gives the dead load -P int N . v dA on the undeformed border.
    """
    F = np.eye(2)[:, :, None, None] + w["follow"] * grad(w["u"])
    return -w["pressure"] * dot(_cof_n(F, w.n), v)


@BilinearForm
def lumen_pressure_stiffness(u, v, w):
    """Load stiffness of the follower pressure: +P int cof(grad u) N . v dA."""
    return w["pressure"] * dot(_cof_n(grad(u), w.n), v)


@dataclass(frozen=True)
class Discretisation:
    """Bases, quadrature data, sparsity pattern and load operators of the P2-P1 problem.

    Everything here depends on the mesh only, so it is built once per mask and reused by every
    Newton iteration and load step; ``factor`` caches the fill-reducing ordering of the
    (fixed) sparsity pattern after the first factorisation.
    """

    wall: WallMesh
    material: MooneyRivlin
    basis_u: Basis
    basis_p: Basis
    facet_u: FacetBasis
    grad_u: np.ndarray  # (nel, nq, 12, 4) gradients of the vector P2 shape functions
    val_p: np.ndarray  # (nel, nq, 3) P1 shape functions
    dx: np.ndarray  # (nel, nq) quadrature weights x |det J|
    ldofs: np.ndarray  # (15, nel) global dofs of an element (u then p)
    csr_inv: np.ndarray  # (15 * 15 * nel,) position of each element entry in the CSR data
    csr_indices: np.ndarray
    csr_indptr: np.ndarray
    kpp: np.ndarray  # (nel, 3, 3) constant -int p q / kappa
    fixed: np.ndarray  # (3,) displacement dofs removing rigid motion
    n_u: int
    n_dofs: int
    stats: dict = field(default_factory=dict)
    gradT: np.ndarray | None = None  # (nel, nq * 4, 12) grad_u arranged for batched matmul
    load0: np.ndarray | None = None  # (n_dofs,) int N . v dA on the lumen border
    load_pos: np.ndarray | None = None  # CSR data positions of the follower load matrix
    load_val: np.ndarray | None = None  # its entries per unit pressure, int cof(grad u) N . v
    bc_zero: np.ndarray | None = None  # CSR data positions in a fixed dof's row or column
    bc_diag: np.ndarray | None = None  # CSR data positions of the fixed dofs' diagonal
    scale_p: float = 1.0  # norm of the volume residual of J = 2 (scale of the p residual)
    factor: dict = field(default_factory=dict)  # ordering cache, filled by _factorise

    def external_force(self, x: np.ndarray, pressure: float, follower: bool) -> np.ndarray:
        """Lumen pressure load -P int cof(F) N . v dA, shape (n_dofs,).

        In 2-D cof(F) = I + cof(grad u) is linear in u, so the follower load is exactly
        -P (load0 + L u) with the constant matrix L of ``load_pos``/``load_val``.
        """
        f = -pressure * self.load0
        if follower:
            f = f - pressure * self.load_matrix() @ x
        return f

    def load_matrix(self) -> sp.csr_matrix:
        """The follower load matrix L per unit pressure, shape (n_dofs, n_dofs)."""
        data = np.zeros(len(self.csr_indices))
        np.add.at(data, self.load_pos, self.load_val)
        return sp.csr_matrix((data, self.csr_indices, self.csr_indptr), shape=(self.n_dofs, self.n_dofs))


def discretise(wall: WallMesh, material: MooneyRivlin | None = None) -> Discretisation:
    """Build the Taylor-Hood P2-P1 bases and everything reused across Newton iterations."""
    mat = MooneyRivlin() if material is None else material
    mesh = wall.mesh
    basis_u = Basis(mesh, ElementVector(ElementTriP2()), intorder=2)  # exact for linear P2
    basis_p = Basis(mesh, ElementTriP1(), quadrature=basis_u.quadrature)
    facets = mesh.boundaries["lumen"]
    if len(facets) == 0:
        raise LabelingError("no lumen facets: the pressure would not be applied")
    facet_u = FacetBasis(mesh, basis_u.elem, facets=facets, intorder=4)
    nel, nq = basis_u.nelems, basis_u.X.shape[-1]
    grad_u = np.stack([np.moveaxis(b[0].grad, (2, 3), (0, 1)).reshape(nel, nq, 4) for b in basis_u.basis], axis=2)
    gradT = np.ascontiguousarray(np.moveaxis(grad_u, 2, 3).reshape(nel, nq * 4, 12))
    val_p = np.stack([np.asarray(b[0]) for b in basis_p.basis], axis=-1)
    dx = basis_u.dx
    n_u, n_p = basis_u.N, basis_p.N
    ldofs = np.vstack([basis_u.element_dofs, n_u + basis_p.element_dofs])
    nl = ldofs.shape[0]
    N = n_u + n_p
    rows = np.repeat(ldofs[:, None, :], nl, axis=1).ravel()
    cols = np.repeat(ldofs[None, :, :], nl, axis=0).ravel()
    keys, inv = np.unique(rows.astype(np.int64) * N + cols, return_inverse=True)
    indptr = np.searchsorted(keys // N, np.arange(N + 1)).astype(np.int32)
    indices = (keys % N).astype(np.int32)
    kpp = -np.einsum("eqa,eqb,eq->eab", val_p, val_p, dx) / mat.kappa
    # rigid-body removal: vertex A fully, the vertex farthest from A across its main axis
    P = mesh.p
    a = int(np.lexsort((P[1], P[0]))[0])
    d = P - P[:, [a]]
    b = int(np.argmax(np.hypot(*d)))
    comp = 1 if abs(d[0, b]) >= abs(d[1, b]) else 0
    nd = basis_u.nodal_dofs
    fixed = np.array([nd[0, a], nd[1, a], nd[comp, b]])
    # the lumen load: constant vector and (follower) constant matrix per unit pressure; the
    # matrix couples the dofs of one facet, which lie in one element: inside the pattern
    load0 = np.zeros(N)
    load0[:n_u] = -lumen_pressure.assemble(facet_u, u=facet_u.interpolate(np.zeros(n_u)), pressure=1.0, follow=0.0)
    lm = lumen_pressure_stiffness.assemble(facet_u, pressure=1.0).tocoo()
    load_pos = np.searchsorted(keys, lm.row.astype(np.int64) * N + lm.col)
    if not np.array_equal(
        keys[np.minimum(load_pos, len(keys) - 1)], lm.row.astype(np.int64) * N + lm.col
    ):  # pragma: no cover
        raise LabelingError("internal error: the lumen load matrix leaves the element pattern")
    row_of = np.repeat(np.arange(N), np.diff(indptr))
    is_fixed = np.zeros(N, bool)
    is_fixed[fixed] = True
    bc_zero = np.nonzero(is_fixed[row_of] | is_fixed[indices])[0]
    bc_diag = np.nonzero(is_fixed[row_of] & (row_of == indices))[0]
    scale_p = float(
        np.linalg.norm(incompressibility.assemble(basis_p, J=np.full_like(dx, 2.0), p=np.zeros_like(dx), kappa=1.0))
    )
    return Discretisation(
        wall=wall,
        material=mat,
        basis_u=basis_u,
        basis_p=basis_p,
        facet_u=facet_u,
        grad_u=grad_u,
        val_p=val_p,
        dx=dx,
        ldofs=ldofs,
        csr_inv=inv.astype(np.int64),
        csr_indices=indices,
        csr_indptr=indptr,
        kpp=kpp,
        fixed=fixed,
        n_u=n_u,
        n_dofs=N,
        stats={"n_elements": nel, "n_dofs": N},
        gradT=gradT,
        load0=load0,
        load_pos=load_pos,
        load_val=lm.data,
        bc_zero=bc_zero,
        bc_diag=bc_diag,
        scale_p=scale_p,
    )


def _fields(disc: Discretisation, x: np.ndarray):
    """F (nel, nq, 2, 2) and p (nel, nq) at the quadrature points."""
    ue = x[disc.ldofs[:12]].T  # (nel, 12)
    H = np.matmul(disc.gradT, ue[:, :, None]).reshape(*disc.dx.shape, 2, 2)
    F = H + np.eye(2)
    p = np.einsum("eqc,ec->eq", disc.val_p, x[disc.ldofs[12:]].T)
    return F, p


def _residual(disc: Discretisation, x: np.ndarray, pressure: float, follower: bool):
    """R(x) (n_dofs,), F, p; raises FloatingPointError on an inverted element."""
    mat = disc.material
    F, p = _fields(disc, x)
    J = F[..., 0, 0] * F[..., 1, 1] - F[..., 0, 1] * F[..., 1, 0]
    if not np.all(J > 0):
        raise FloatingPointError("inverted element (J <= 0)")
    nel, nq = J.shape
    Pw = first_piola(F, p, mat).reshape(nel, nq * 4) * np.repeat(disc.dx, 4, axis=1)
    r_u = np.matmul(Pw[:, None, :], disc.gradT)[:, 0, :]  # (nel, 12)
    r_p = np.einsum("eqc,eq->ec", disc.val_p, (J - 1.0 - p / mat.kappa) * disc.dx)
    R = np.bincount(disc.ldofs.ravel(), np.hstack([r_u, r_p]).T.ravel(), minlength=disc.n_dofs)
    R -= disc.external_force(x, pressure, follower)
    return R, F, p


def _tangent_data(disc: Discretisation, F, p, pressure: float, follower: bool) -> np.ndarray:
    """CSR data (in ``disc``'s pattern) of the tangent dR/dx at the state (F, p)."""
    mat = disc.material
    nel, nq = disc.dx.shape
    A = material_tangent(F, p, mat).reshape(nel, nq, 4, 4) * disc.dx[..., None, None]
    G = disc.grad_u  # (nel, nq, 12, 4)
    GA = np.matmul(G, A)  # (nel, nq, 12, 4)
    kuu = np.matmul(np.moveaxis(GA, 1, 2).reshape(nel, 12, nq * 4), disc.gradT)
    cofw = _cof(F).reshape(nel, nq, 4) * disc.dx[..., None]
    gc = np.matmul(G, cofw[..., None])[..., 0]  # (nel, nq, 12): grad v : cof(F) dx
    kup = np.matmul(np.moveaxis(gc, 1, 2), disc.val_p)  # (nel, 12, 3)
    ke = np.empty((nel, 15, 15))
    ke[:, :12, :12] = kuu
    ke[:, :12, 12:] = kup
    ke[:, 12:, :12] = kup.transpose(0, 2, 1)
    ke[:, 12:, 12:] = disc.kpp
    data = np.bincount(disc.csr_inv, np.moveaxis(ke, 0, -1).ravel(), minlength=len(disc.csr_indices))
    if follower:
        np.add.at(data, disc.load_pos, pressure * disc.load_val)
    return data


def residual_and_tangent(
    disc: Discretisation, x: np.ndarray, pressure: float, *, follower: bool = True, need_tangent: bool = True
):
    """Residual R(x) = internal - external forces and its Jacobian dR/dx.

    Parameters
    ----------
    disc : Discretisation
    x : ndarray, shape (n_dofs,)
        Displacements (mm, first ``disc.n_u`` entries) then pressure (kPa).
    pressure : float
        Lumen pressure, kPa.
    follower : bool
        Pressure on the deformed (True) or undeformed (False) border.
    need_tangent : bool

    Returns
    -------
    R : ndarray, shape (n_dofs,)
    K : scipy.sparse.csr_matrix, shape (n_dofs, n_dofs), or None
    F : ndarray, shape (nel, nq, 2, 2)
    p : ndarray, shape (nel, nq)
    """
    R, F, p = _residual(disc, x, pressure, follower)
    if not need_tangent:
        return R, None, F, p
    data = _tangent_data(disc, F, p, pressure, follower)
    N = disc.n_dofs
    K = sp.csr_matrix((data, disc.csr_indices, disc.csr_indptr), shape=(N, N))
    return R, K, F, p
