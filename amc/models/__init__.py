"""Models: the configurable CLDNN family and its expert features."""

from amc.models.cldnn import (
    CLDNN,
    DENOISED_NAME,
    INPUT_NAME,
    OUTPUT_NAMES,
    InferenceModel,
    ModelOutput,
    build_model,
    count_parameters,
    flops_per_frame,
    normalise,
    snr_db_from_eta,
    snr_db_from_logit,
)
from amc.models.expert import EXPERT_FEATURES, NUM_EXPERT_FEATURES, expert_features

__all__ = [
    "CLDNN", "DENOISED_NAME", "EXPERT_FEATURES", "INPUT_NAME", "NUM_EXPERT_FEATURES", "OUTPUT_NAMES",
    "InferenceModel", "ModelOutput", "build_model", "count_parameters", "expert_features",
    "flops_per_frame", "normalise", "snr_db_from_eta", "snr_db_from_logit",
]
