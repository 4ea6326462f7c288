"""ftkit: the helper library of a hands-on course on fine-tuning pre-trained image models.

Nothing happens at import time: no network, no weights loaded, no global state. Lessons import
the modules they use by name, e.g. ``from ftkit import data, models, training, plots``.
"""

__version__ = "0.1.0"

#: The public modules, one per concept (imported on demand: ``from ftkit import training``).
__all__ = [
    "glyphs", "models", "data", "folders", "pretrain",           # the offline world
    "freezing", "optim", "schedules", "regularization", "history", "training", "lr_finder",
    "features", "evaluation",                                     # the fine-tuning toolkit
    "plots", "widgets", "exercises",                              # the notebooks' helpers
    "recipes", "bench", "doctor", "lessons", "cli",               # commands
]
