"""One small registry helper for everything configs name: data sets, generators, target models,
strategies, labelers.

A :class:`Registry` is a ``dict`` from name to builder with a decorator to fill it and a lookup
whose error lists the valid names::

    DATASETS = Registry("dataset")

    @DATASETS.register("digits")
    def _load_digits(root=None): ...

    DATASETS.resolve("digitz")   # ConfigError: unknown dataset 'digitz'; valid choices: digits, ...

A name is registered once: registering another object under a taken name raises
:class:`~latentlab.exceptions.ConfigError` naming it, unless ``replace=True`` says the replacement
is meant (registering the very same object again, e.g. when a module is reloaded, is allowed).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from .exceptions import ConfigError, unknown_choice

__all__ = ["Registry"]


def _same(a: object, b: object) -> bool:
    """The same object, or the same definition imported again (a reloaded module)."""
    if a is b:
        return True
    qual = (getattr(a, "__module__", None), getattr(a, "__qualname__", None))
    return qual[1] is not None and qual == (getattr(b, "__module__", None), getattr(b, "__qualname__", None))


class Registry(dict):
    """Name -> builder. ``kind`` names what is registered, for error messages.

    Parameters
    ----------
    kind : str
        What the registry holds ("dataset", "strategy", ...), used in its error messages.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.info: dict[str, dict] = {}  # name -> what was declared at registration (read before building)

    def add(self, name: str, obj: Any, *, replace: bool = False, **info: Any) -> Any:
        """Register ``obj`` under ``name``; return ``obj``.

        Parameters
        ----------
        name : str
            The name configs and the command line use.
        obj : object
            The builder (a class or a function).
        replace : bool
            Replace an object already registered under ``name`` (otherwise that is refused).
        **info
            Kept in :attr:`info` (e.g. a data set's ``targets``).

        Raises
        ------
        ConfigError
            ``name`` is taken by another object and ``replace`` is False.
        """
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} needs a non-empty name (a string), got {name!r}")
        if name in self and not replace and not _same(self[name], obj):
            raise ConfigError(
                f"{self.kind} name {name!r} is already registered (by {_describe(self[name])}); "
                f"choose another name, or pass replace=True to replace it"
            )
        self[name] = obj
        self.info[name] = dict(info)
        return obj

    def register(self, name: str | None = None, *, replace: bool = False, **info: Any) -> Callable[[Any], Any]:
        """Decorator registering its argument under ``name`` (default: the argument's ``name`` attribute).

        Parameters
        ----------
        name : str, optional
            Defaults to the decorated object's ``name`` attribute.
        replace : bool
            Replace an object already registered under that name (otherwise refused).
        **info
            Kept in :attr:`info` (e.g. a data set's ``targets``).
        """

        def deco(obj):
            return self.add(name if name is not None else obj.name, obj, replace=replace, **info)

        return deco

    def resolve(self, name: str) -> Any:
        """The builder registered as ``name``; an unknown name raises ``ConfigError`` listing the valid ones."""
        if name not in self:
            raise unknown_choice(self.kind, name, self)
        return self[name]

    @contextlib.contextmanager
    def scoped(self, entries: dict[str, Any], info: dict[str, dict] | None = None) -> Iterator[None]:
        """Register ``entries`` (name -> builder) for the duration of a ``with`` block, then restore
        what was there: how :func:`latentlab.experiment.run_experiment` lets in-memory objects be
        looked up by name in this process and in its workers without registering them for good."""
        saved = {k: (self[k], self.info.get(k)) for k in entries if k in self}
        try:
            for k, v in entries.items():
                self[k] = v
                self.info[k] = dict((info or {}).get(k, {}))
            yield
        finally:
            for k in entries:
                self.pop(k, None)
                self.info.pop(k, None)
            for k, (v, i) in saved.items():
                self[k] = v
                if i is not None:
                    self.info[k] = i

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(sorted(self))})"


def _describe(obj: object) -> str:
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{mod}.{qual}" if mod and qual else type(obj).__name__
