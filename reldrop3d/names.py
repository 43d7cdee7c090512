"""The names that users pass as strings (models, relevance methods, drop rules, ...).

Each is defined here once and imported by the module that implements it.
This module imports nothing, so the command line can list the choices in
``--help`` and check a configuration without loading torch.
"""

MODELS = ("pointnet", "pointnet2", "pointnet2-msg", "dgcnn")
RELEVANCE_METHODS = (
    "lrp",
    "gradient",
    "input_x_gradient",
    "saliency_map",
    "feature_norm",
    "random",
)
LRP_SEEDS = ("one", "logit")  # LRP's output relevance: 1 (published) or the logit
GUIDANCE_METHODS = ("input_x_gradient", "gradient", "lrp")  # differentiable in the weights
GUIDANCE_LOSSES = ("energy", "rrr", "cyborg")
DROP_MODES = ("threshold", "topk", "sample")
FILLS = ("remove", "zero", "first")
