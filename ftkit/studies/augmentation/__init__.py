"""Lesson 05: data augmentation, measured.

An augmented run learns from a harder, ever-changing training set, so it may need more
optimizer steps than a plain one: ``compare_budgets`` gives every method the same grid of
budgets, lets validation choose each method's own (``ftkit.protocol``) and tests only that
budget. The pipelines themselves live in ``ftkit.data`` or are written out in the lesson with
``torchvision.transforms.v2``.

The lesson's experiments live in ``core``, its exercise checkers in ``exercises``; both are
re-exported here, so ``from ftkit.studies import augmentation`` gives the lesson everything."""

from ftkit.studies.augmentation.core import (  # noqa: F401
    Setup,
    augmentation_explorer,
    augmentation_preview,
    budget_records,
    compare_budgets,
    differences_plot,
    digits_setup,
    same_output,
    seconds_per_image,
    staged_fit,
)
from ftkit.studies.augmentation.exercises import (  # noqa: F401
    SAFE_OPTIONS,
    WHERE_OPTIONS,
    check_augmentation_prediction,
    check_rebuilt_standard,
    check_safe_augmentation,
    check_where_to_augment,
)
