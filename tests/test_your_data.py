"""Your data, your model, your strategy: the public API for a researcher's own problem (issue 21).

Registries refuse to replace a name unless asked; in-memory objects given to ``run_experiment``
run without registering a name, give the same results on 1 and 2 worker processes, and
``config.json`` says what actually ran.
"""

from __future__ import annotations

import pytest

from latentlab.exceptions import ConfigError
from latentlab.registry import Registry


# ------------------------------------------------------------------ registries
def test_registry_refuses_a_taken_name_unless_replace():
    r = Registry("widget")
    r.add("a", int)
    with pytest.raises(ConfigError, match=r"widget name 'a' is already registered \(by builtins.int\).*replace=True"):
        r.add("a", float)
    assert r["a"] is int  # the refused registration changed nothing
    r.add("a", float, replace=True)
    assert r["a"] is float
    r.add("a", float)  # the very same object again (a reloaded module) is no replacement


def test_builtin_strategy_name_is_protected():
    from latentlab.strategies import STRATEGIES, Strategy, register_strategy

    before = STRATEGIES["random"]
    with pytest.raises(ConfigError, match="strategy name 'random' is already registered"):

        @register_strategy
        class Mine(Strategy):
            name = "random"

    assert STRATEGIES["random"] is before


def test_scoped_registration_restores_what_was_there():
    r = Registry("widget")
    r.add("a", int, note=1)
    with r.scoped({"a": float, "b": str}):
        assert r["a"] is float and r["b"] is str
    assert r["a"] is int and "b" not in r and r.info["a"] == {"note": 1}
