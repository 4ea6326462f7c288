"""ftkit: the helper library of a hands-on course on fine-tuning pre-trained image models.

The package is layered, and the folders show the layers (an import-linter contract in
``pyproject.toml`` checks them in the test command):

- ``ftkit.*`` (this folder, flat): the core, the concepts a learner reuses on their own work.
- ``ftkit.studies``: each lesson's experiments, figures, explorers and exercise checkers.
- ``ftkit.bench``: the named methods and the headline table (``ftkit bench``).
- ``ftkit.source``: how the shipped weights were made, and the weights with their cards.
- ``ftkit.tools``: the ``ftkit`` command, ``doctor``, the lesson runner.

Nothing happens at import time: no network, no weights loaded, no global state. Lessons import
the modules they use by name, e.g. ``from ftkit import data, models, training, plots``.
"""

__version__ = "0.1.0"

#: The core's public modules, one per concept (imported on demand: ``from ftkit import training``).
__all__ = [
    "adapters",
    "checkpoints",
    "checks",
    "compatibility",
    "data",
    "deploy",
    "devices",
    "evaluation",
    "exercises",
    "features",
    "fingerprints",
    "fit_config",
    "folder_scan",
    "folders",
    "freezing",
    "frozen_prefix",
    "history",
    "imagenet",
    "images",
    "inference",
    "layers",
    "lr_finder",
    "models",
    "optim",
    "outputs",
    "photos",
    "plots",
    "preflight",
    "probes",
    "protocol",
    "regularization",
    "replay",
    "resnet",
    "runtime",
    "schedules",
    "stopping",
    "train_step",
    "training",
    "widgets",
]

#: The layers above the core (sub-packages).
LAYERS = ["studies", "bench", "source", "tools"]
