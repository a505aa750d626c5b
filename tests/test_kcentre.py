"""One greedy k-centre (issue 21): ``coreset`` (F's penultimate features), ``diverse-entropy`` and
``latent-coreset`` (the latent plane) share :func:`latentlab.strategies.diversity.k_centre_greedy`.

The picks below were recorded with the two functions it replaced (``diversity.kcenter_greedy`` for
the ``features-*`` cases, ``latent_plus.k_centre_greedy`` for the ``latent-*`` cases), on the
commit before the merge: the one function must pick the same rows, in the same order.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.exceptions import ConfigError
from latentlab.strategies import diversity, latent_plus
from latentlab.strategies.diversity import k_centre_greedy

BEFORE = {
    "features-84d": [250, 76, 346, 141, 203, 113, 139, 84, 180, 223, 257, 355, 312, 24, 151, 273, 396, 47, 252, 99,
                     364, 374, 140, 268, 216],
    "features-no-centres": [134, 120, 12, 22, 30, 18, 63, 137, 38, 40],
    "features-repeated": [69, 75, 36, 108, 18, 45, 30, 0, 57, 87, 42, 9, 51, 54, 141, 138, 144, 33, 60, 132, 147, 123,
                          72, 24, 111, 81, 102, 90, 48, 39, 12, 96, 63, 78, 6, 27, 105, 3, 84, 15, 66, 117, 135, 99,
                          126, 21, 114, 120, 129, 93, 1, 2, 4, 5, 7, 8, 10, 11, 13, 14],
    "features-2d": [118, 61, 158, 26, 27, 232, 200, 149, 55, 283, 217, 168, 38, 10, 205, 175, 94, 209, 298, 157],
    "latent-2d": [297, 1153, 1545, 566, 1351, 1178, 1942, 721, 1963, 758, 490, 1580, 161, 597, 966, 643, 1663, 772,
                  1017, 511, 300, 1117, 658, 879, 1773, 515, 410, 71, 928, 1783],
    "latent-no-centres": [0, 66, 132, 153, 102, 353, 28, 134, 365, 413, 352, 207, 453, 270, 88, 33, 183, 450, 445, 176],
    "latent-16d": [402, 755, 175, 299, 394, 655, 644, 373, 367, 362, 65, 270, 61, 405, 772, 702, 142, 519, 668, 689,
                   363, 58, 352, 714, 201],
    "latent-grid-ties": [313, 333, 341, 84, 140, 65, 212, 309, 370, 66, 371, 270, 278, 208, 246, 216, 71, 268, 130,
                         151, 213, 90, 330, 103, 124, 248, 60, 134, 12, 50, 386, 61, 165, 11, 28, 135, 236, 82, 22,
                         215],
}  # fmt: skip


def _cases():
    """The inputs BEFORE was recorded on (one seeded stream, in this order)."""
    r = np.random.default_rng(21)
    f, c = r.normal(size=(400, 84)), r.normal(size=(30, 84))
    yield "features-84d", f, c, 25, None
    f = r.normal(size=(200, 16))
    yield "features-no-centres", f, np.zeros((0, 16)), 10, 5  # coreset's cold start: the first pick is drawn
    f, c = np.repeat(r.normal(size=(50, 10)), 3, axis=0), r.normal(size=(5, 10))
    yield "features-repeated", f, c, 60, None  # duplicates: each row once, then the copies (distance 0)
    f, c = r.normal(size=(300, 2)) * [3.0, 1.0], r.normal(size=(4, 2))
    yield "features-2d", f, c, 20, None
    p, c = r.normal(size=(2000, 2)), r.normal(size=(100, 2))
    yield "latent-2d", p, c, 30, None
    p = r.normal(size=(500, 2))
    yield "latent-no-centres", p, np.zeros((0, 2)), 20, None  # no rng: the first pick is row 0
    p, c = r.normal(size=(800, 16)), r.normal(size=(40, 16))
    yield "latent-16d", p, c, 25, None
    p, c = np.round(r.normal(size=(400, 2)), 1), np.round(r.normal(size=(10, 2)), 1)
    yield "latent-grid-ties", p, c, 40, None  # exact ties everywhere: the earlier row wins


def test_the_one_k_centre_picks_what_the_two_did():
    got = {}
    for name, x, c, k, seed in _cases():
        rows, dist = k_centre_greedy(x, c, k, None if seed is None else np.random.default_rng(seed))
        got[name] = rows.tolist()
        # each recorded distance is the pick's distance to its nearest centre or earlier pick
        prev = c
        for j, d in zip(rows, dist):
            want = np.linalg.norm(prev - x[j], axis=1).min() if len(prev) else np.inf
            assert d == pytest.approx(want, rel=1e-9)
            prev = np.vstack([prev, x[j]])
    assert got == BEFORE


def test_both_strategy_modules_use_the_same_function():
    assert latent_plus.k_centre_greedy is diversity.k_centre_greedy
    assert not hasattr(diversity, "kcenter_greedy")


def test_k_centre_refuses_a_k_it_cannot_pick():
    with pytest.raises(ConfigError, match=r"1 <= k <= 3"):
        k_centre_greedy(np.zeros((3, 2)), np.zeros((0, 2)), 4)
