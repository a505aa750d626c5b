"""The vessel wing: everything specific to the IVUS stand-in task, behind the generic interfaces.

=================  =================================================================================
``masks``          procedural wall masks, their validation and post-processing of decoded images
``fem``            the open finite-element wall-stress solver (``stress_map``, ``FEMSettings``)
``annuli``         the annuli consistent with a mask: the information limit of the solver's Lame check
``labeler``        ``FEMLabeler``, the solver as a labeling tool (registered as labeler ``fem``)
``dataset``        the ``vessels`` data set (registered with :func:`latentlab.datasets.register_dataset`)
``net``            Table S6's encoder-decoder target (registered as target ``s6``)
=================  =================================================================================

The generic loop never imports this package; importing it registers the data set, the target and
the ``fem`` labeler. ``latentlab`` imports it, so ``load_dataset("vessels")`` just works.
"""

from .dataset import METRIC_SCALE, N_SLICES, N_TEST, load_vessels
from .labeler import STRESS_SCALE_KPA, FEMLabeler, fem_label
from .masks import VesselParams, generate_vessels, lumen_mask, postprocess_mask, postprocess_masks, validate_mask
from .net import VesselNet

__all__ = [
    "VesselParams",
    "generate_vessels",
    "validate_mask",
    "lumen_mask",
    "postprocess_mask",
    "postprocess_masks",
    "load_vessels",
    "FEMLabeler",
    "fem_label",
    "VesselNet",
    "N_SLICES",
    "N_TEST",
    "STRESS_SCALE_KPA",
    "METRIC_SCALE",
]
