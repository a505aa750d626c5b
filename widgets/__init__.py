"""Panel/Bokeh views of latentlab (the core never imports this package)."""

from .annotate import AnnotationPanel
from .explorer import LatentExplorer

__all__ = ["LatentExplorer", "AnnotationPanel", "create_app"]


def create_app(**settings):
    """A fresh explorer (its own state) for one session; see :mod:`latentlab.widgets.app`."""
    from .app import create_app as _create

    return _create(**settings)
