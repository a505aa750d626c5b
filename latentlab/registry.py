"""One small registry helper for everything configs name: data sets, generators, target models,
strategies, labelers.

A :class:`Registry` is a ``dict`` from name to builder with a decorator to fill it and a lookup
whose error lists the valid names::

    DATASETS = Registry("dataset")

    @DATASETS.register("digits")
    def _load_digits(root=None): ...

    DATASETS.resolve("digitz")   # ConfigError: unknown dataset 'digitz'; valid choices: digits, ...
"""

from __future__ import annotations

from .exceptions import unknown_choice

__all__ = ["Registry"]


class Registry(dict):
    """Name -> builder. ``kind`` names what is registered, for error messages."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.info: dict[str, dict] = {}  # name -> what was declared at registration (read before building)

    def register(self, name: str | None = None, **info):
        """Decorator registering its argument under ``name`` (default: the argument's ``name`` attribute);
        keyword arguments are kept in :attr:`info` (e.g. a data set's ``targets``)."""

        def deco(obj):
            key = name if name is not None else obj.name
            self[key] = obj
            self.info[key] = dict(info)
            return obj

        return deco

    def resolve(self, name: str):
        """The builder registered as ``name``; an unknown name raises ``ConfigError`` listing the valid ones."""
        if name not in self:
            raise unknown_choice(self.kind, name, self)
        return self[name]

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(sorted(self))})"
