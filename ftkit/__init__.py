"""ftkit: the helper library of a hands-on course on fine-tuning pre-trained image models.

Nothing happens at import time: no network, no weights loaded, no global state. Lessons import
the modules they use by name, e.g. ``from ftkit import data, models, training, plots``.
"""

__version__ = "0.1.0"

#: The public modules, one per concept (imported on demand: ``from ftkit import training``).
__all__ = [
    "augment",
    "bench",
    "cli",
    "data",
    "deploy",
    "doctor",
    "evaluation",
    "exercises",
    "features",
    "folders",
    "freeze_study",
    "freezing",
    "gallery",
    "glyphs",
    "history",
    "lessons",
    "lr_finder",
    "lr_study",
    "models",
    "optim",
    "plots",
    "pretrain",
    "probing",
    "recipes",
    "regularization",
    "schedules",
    "sweeps",
    "training",
    "unfreezing",
    "widgets",
]
