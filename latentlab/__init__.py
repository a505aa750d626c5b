"""latentlab: adaptive latent-space sampling (hard-sample mining through a generator's latent space).

The core never imports Panel, Bokeh or ``widgets``: it runs headless in papermill, Dask and tests.
"""

from . import alphagan, vgg  # noqa: F401  (fill GENERATORS['alphagan'], TARGETS['vgg16'])
from .datasets import DATASETS, Dataset, load_dataset, register_dataset
from .exceptions import (ConfigError, DatasetError, DatasetNotFoundError, LabelingError, LatentLabError,
                         ResumeError)
from .experiment import ExperimentConfig, prepare, run_experiment
from .explorer_state import ExplorerState
from .generative import GeneratorConfig, decode, encode, get_generator
from .gradients import latent_gradient
from .loop import ActiveLoop, LoopConfig, RoundRecord
from .latent import LatentSpace
from .neighbours import LatentIndex
from .pool import PoolState
from .strategies import STRATEGIES, Proposal, SamplingContext, Strategy, get_strategy, register_strategy
from .training import TrainConfig, fit
from .trajectory import Trajectory, trajectory
from . import interpolation  # noqa: F401,E402 - registers strategy "si"
from .labeling import ToolLabeler, make_labeler  # noqa: E402
from .vessels import FEMLabeler, load_vessels  # noqa: E402 - registers data set "vessels", target "s6", labeler "fem"

__version__ = "0.1.0"
