"""``baal-bald``: the peer library's BALD, run inside latentlab's loop for a side-by-side benchmark.

baal (https://github.com/baal-org/baal) is the well-kept Bayesian active-learning library of this
field. This strategy uses baal's own pieces end to end on the current target model: its dropout
patch (``baal.bayesian.dropout.patch_module``: dropout stays on at inference), its MC inference
(``baal.modelwrapper.mc_inference``) and its ``BALD`` heuristic's ranking. Everything else (data,
model, training recipe, candidate subset, acquisition size) is latentlab's and the same as for
``bald``, so a run with both strategies compares the two implementations on equal terms, and the
paired differences come from the same code (``latentlab compare``).

baal is a benchmark-only extra: ``pip install 'latentlab-sampling[bench]'``. latentlab's core never needs it.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ..exceptions import ConfigError
from .base import Proposal, Strategy, register_strategy

__all__ = ["BaalBALDStrategy"]


@register_strategy
class BaalBALDStrategy(Strategy):
    """BALD by baal's dropout patch, MC inference and heuristic (for comparison with ``bald``)."""

    name = "baal-bald"

    def propose(self, ctx, per_round, rng):
        self.check(ctx, per_round)
        if not getattr(ctx.task, "categorical", False):
            raise ConfigError("baal-bald needs a classification task (class probabilities per item)")
        try:
            from baal.active.heuristics import BALD
            from baal.bayesian.dropout import patch_module
            from baal.modelwrapper import mc_inference
        except ImportError:
            raise ConfigError(
                "strategy 'baal-bald' runs the peer library baal: "
                "pip install 'latentlab-sampling[bench]' (or baal==2.1.0)"
            ) from None
        if not any(isinstance(m, torch.nn.modules.dropout._DropoutNd) for m in ctx.target.modules()):
            raise ConfigError("baal-bald needs a target model with dropout layers; use --target lenet-dropout")
        free = ctx.pool.unlabelled_indices()
        if ctx.candidates and ctx.candidates < len(free):
            free = np.sort(rng.choice(free, max(ctx.candidates, per_round), replace=False))
        k = int(getattr(ctx, "mc_samples", 20) or 20)
        model = patch_module(copy.deepcopy(ctx.target), inplace=True)
        model.eval()  # batch norm uses running statistics; baal's patched dropout stays stochastic
        dev = next(model.parameters()).device
        probs = []
        with torch.no_grad(), torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(int(rng.integers(2**62)))
            for i in range(0, len(free), 1000):
                x = torch.as_tensor(ctx.x_pool[free[i : i + 1000]], dtype=torch.float32).to(dev)
                out = mc_inference(model, x, k, replicate_in_memory=True)  # (n, classes, k) logits
                probs.append(torch.softmax(out, dim=1).cpu().numpy())
        p = np.concatenate(probs)
        ranks, scores = BALD().get_ranks(p)
        pick = np.asarray(ranks[:per_round], np.int64)
        return Proposal(indices=free[pick], score=np.asarray(scores)[pick])
