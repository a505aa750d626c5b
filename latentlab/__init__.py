"""latentlab: adaptive latent-space sampling (hard-sample mining through a generator's latent space).

The core never imports Panel, Bokeh or ``latentlab.widgets`` (the view, in the repository's
top-level ``widgets/`` folder): it runs headless in papermill, Dask and tests.
The map of the package is docs/ARCHITECTURE.md.

Installed as the distribution ``latentlab-sampling`` (docs/install.md). latentlab leaves
``os.environ`` as it found it: OpenMP's passive wait policy is set only while torch and
scikit-learn load (:func:`latentlab.threads.apply_wait_policy`). (scikit-learn's own import sets
``KMP_DUPLICATE_LIB_OK`` and ``KMP_INIT_AT_FORK``, as it does without latentlab.)
"""

from ._install_check import check_install as _check_install

_check_install()  # first: stop with the fix if the unrelated `latentlab` distribution shares our files

from ._version import __version__


def _map_the_view_in_a_checkout() -> None:
    """In a source checkout, make ``latentlab.widgets`` the ``widgets/`` folder beside ``latentlab/``.

    Installed, setuptools does this (``package-dir`` in pyproject.toml): a wheel holds
    ``latentlab/widgets/``, an editable install maps it with its own finder. A checkout on
    ``PYTHONPATH`` (or an editable install of another checkout) needs this finder, placed first so
    the view always comes from the same tree as the core. It only locates files: nothing of the
    view (nor Panel) is imported here.
    """
    import importlib.abc
    import importlib.util
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    view = here.parent / "widgets"
    if (
        (here / "widgets").is_dir()
        or not (view / "__init__.py").is_file()
        or not (here.parent / "pyproject.toml").is_file()
    ):
        return

    class _CheckoutViewFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != "latentlab.widgets":
                return None
            return importlib.util.spec_from_file_location(
                fullname, view / "__init__.py", submodule_search_locations=[str(view)]
            )

    if not any(type(f).__name__ == "_CheckoutViewFinder" for f in sys.meta_path):
        sys.meta_path.insert(0, _CheckoutViewFinder())


_map_the_view_in_a_checkout()

from .threads import apply_wait_policy, set_thread_policy

# before anything imports torch: OpenMP reads its wait policy once, at load; the environment is left unchanged
apply_wait_policy()

from . import alphagan, vgg  # noqa: F401  (register generator 'alphagan' and target 'vgg16')
from .datasets import DATASETS, Dataset, load_dataset, register_dataset
from .exceptions import ConfigError, DatasetError, DatasetNotFoundError, LabelingError, LatentLabError, ResumeError
from .experiment import ExperimentConfig, config_from_settings, prepare, run_experiment
from .explorer_state import ExplorerState
from .generative import GeneratorConfig, decode, encode, get_generator
from .gradients import latent_gradient
from .labeling import ToolLabeler, make_labeler
from .latent import LatentSpace
from .loop import ActiveLoop, LoopConfig, RoundRecord
from .neighbours import LatentIndex
from .pool import PoolState
from .strategies import (
    STRATEGIES,
    Proposal,
    SamplingContext,
    Strategy,
    get_strategy,
    register_strategy,
    strategy_table,
)
from .training import TrainConfig, fit
from .trajectory import Trajectory, advance, trajectory
from .vessels import FEMLabeler, load_vessels  # registers data set 'vessels', target 's6', labeler 'fem'

# The public API: what `from latentlab import *` gives, what docs/api.md documents and what
# tests/test_conventions.py validates (numpydoc docstrings, type hints through mypy).
__all__ = [
    "__version__",
    # data
    "DATASETS",
    "Dataset",
    "load_dataset",
    "register_dataset",
    # errors (LatentLabError is the base of the others)
    "ConfigError",
    "DatasetError",
    "DatasetNotFoundError",
    "LabelingError",
    "ResumeError",
    "LatentLabError",
    # runs
    "ExperimentConfig",
    "config_from_settings",
    "prepare",
    "run_experiment",
    # generator and latent space
    "GeneratorConfig",
    "get_generator",
    "encode",
    "decode",
    "LatentSpace",
    "LatentIndex",
    "latent_gradient",
    # the loop
    "ActiveLoop",
    "LoopConfig",
    "RoundRecord",
    "PoolState",
    "TrainConfig",
    "fit",
    # strategies
    "STRATEGIES",
    "Strategy",
    "SamplingContext",
    "Proposal",
    "get_strategy",
    "register_strategy",
    "strategy_table",
    # steps in the latent space
    "Trajectory",
    "advance",
    "trajectory",
    # labelers
    "ToolLabeler",
    "make_labeler",
    "FEMLabeler",
    "load_vessels",
    # the explorer's model, the thread policy
    "ExplorerState",
    "set_thread_policy",
    "apply_wait_policy",
]
