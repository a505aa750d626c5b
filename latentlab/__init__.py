"""latentlab: adaptive latent-space sampling (hard-sample mining through a generator's latent space).

The core never imports Panel, Bokeh or ``widgets``: it runs headless in papermill, Dask and tests.
The map of the package is docs/ARCHITECTURE.md.
"""

from .threads import apply_wait_policy, set_thread_policy

apply_wait_policy()  # before anything imports torch: OpenMP reads its wait policy once (latentlab/threads.py)

from . import alphagan, vgg  # noqa: F401  (register generator 'alphagan' and target 'vgg16')
from .datasets import DATASETS, Dataset, load_dataset, register_dataset
from .exceptions import (ConfigError, DatasetError, DatasetNotFoundError, LabelingError, LatentLabError,
                         ResumeError)
from .experiment import ExperimentConfig, config_from_settings, prepare, run_experiment
from .explorer_state import ExplorerState
from .generative import GeneratorConfig, decode, encode, get_generator
from .gradients import latent_gradient
from .labeling import ToolLabeler, make_labeler
from .latent import LatentSpace
from .loop import ActiveLoop, LoopConfig, RoundRecord
from .neighbours import LatentIndex
from .pool import PoolState
from .strategies import STRATEGIES, Proposal, SamplingContext, Strategy, get_strategy, register_strategy
from .training import TrainConfig, fit
from .trajectory import Trajectory, advance, trajectory
from .vessels import FEMLabeler, load_vessels  # registers data set 'vessels', target 's6', labeler 'fem'

__version__ = "0.1.0"
