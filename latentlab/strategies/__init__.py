"""Query strategies behind one interface, chosen by name.

======================  ================================================================  ==================
``random``              uniform over the unlabelled pool (the paper's baseline)           random_sampling.py
``snn``                 sampling by nearest neighbour (Algorithm 1): p' = p + alpha d,    snn.py
                        nearest free item
``snn-random-dir``      control: same step length alpha, random unit direction            snn.py
``snn-hard``            SNN from the labelled items with F's highest loss (not random)    latent_plus.py
``uncertainty-ascent``  top-entropy unlabelled items stepped by alpha along the gradient  latent_plus.py
                        of F's entropy of G(p), nearest free item (no label)
``diverse-entropy``     top 10 x per_round entropy items thinned by greedy k-centre in    latent_plus.py
                        the latent plane (labelled items as initial centres)
``latent-coreset``      greedy k-centre over all free items in the latent plane (no F):   latent_plus.py
                        coverage alone, the control for diverse-entropy
``entropy``             classic uncertainty sampling: highest predictive entropy          entropy.py
``margin``              smallest gap between F's top-1 and top-2 class probabilities      uncertainty.py
``least-confidence``    lowest top-1 class probability of F                               uncertainty.py
``bald``                highest mutual information between label and weights (BALD),      bayesian.py
                        from --mc-samples MC-dropout passes (--target lenet-dropout)
``batchbald``           greedy BatchBALD: the batch with the highest joint mutual         bayesian.py
                        information (exact joint entropy, sampled once too many
                        configurations)
``baal-bald``           the peer library baal's BALD (its dropout patch, MC inference,    peer_baal.py
                        ranking), for side-by-side benchmarks
``coreset``             greedy k-centre on F's penultimate features, labelled items as    diversity.py
                        the first centres (core-set)
``badge``               k-means++ seeding on gradient embeddings (softmax - onehot) x     diversity.py
                        penultimate features (BADGE)
``si``                  sampling by interpolation (Algorithm 2): label G(p') with a tool  si.py
                        that annotates synthesized inputs (vessels: the FEM solver)
``si-random-dir``       control: SI's step length alpha in a random unit direction        si.py
``si-real``             SI anchored to real masks: real T(1), steps from labelled real    si_real.py
                        (at E(x)) and synthesized points, loss on the labelled input
``si-mix``              si-real with half of each batch random real pool items            si_real.py
======================  ================================================================  ==================

A new strategy is one module here (copy ``random_sampling.py``): a :class:`Strategy` subclass
with ``name`` and :meth:`~Strategy.propose`, decorated with :func:`register_strategy`. Importing
this package imports every module in it, so nothing else needs to import the new file.
"""

import importlib
import pkgutil

from .base import (
    STEP_LABELS,
    STRATEGIES,
    Proposal,
    SamplingContext,
    StepResult,
    Strategy,
    get_strategy,
    register_strategy,
)

__all__ = [
    "SamplingContext",
    "Proposal",
    "StepResult",
    "STEP_LABELS",
    "Strategy",
    "STRATEGIES",
    "register_strategy",
    "get_strategy",
    "strategy_table",
]

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "base":
        importlib.import_module(f"{__name__}.{_m}")


def strategy_table() -> str:
    """A markdown table of every registered strategy: name, what it needs, what it does.

    "What it does" is the first paragraph of the class docstring, so notebooks list exactly what
    the installed package offers.

    Returns
    -------
    str
        The table, one row per strategy, sorted by name.
    """
    import inspect

    rows = ["| strategy | needs | what it does |", "|---|---|---|"]
    for name in sorted(STRATEGIES):
        cls = STRATEGIES.resolve(name)
        doc = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        needs = "generator" if cls.needs_generator else "-"
        rows.append(f"| `{name}` | {needs} | {doc.replace('|', '/').replace('``', '`')} |")
    return "\n".join(rows) + "\n"
