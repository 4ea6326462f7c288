"""ftkit: the helper library of a hands-on course on fine-tuning pre-trained image models.

Nothing happens at import time: no network, no weights loaded, no global state.
Lessons import the modules they use by name, e.g. ``from ftkit import data, models, training``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
