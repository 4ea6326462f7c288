"""Staged fine-tuning made visible: which layer groups train when, and how recipes compare.

Lesson 07 (gradual unfreezing, LP-FT, forgetting, domain shift): the schedule as a (group,
epoch) matrix and its explorer view, grouped bars over seeds, the real-photo runs
(``photo_run``, the stored Fashion-MNIST sweep) and the exercise checkers, which hold the
expected answers or measure them.

The lesson's experiments live in ``core``, its exercise checkers in ``exercises``; both are
re-exported here, so ``from ftkit.studies import unfreezing_shift`` gives the lesson
everything."""

from ftkit.studies.unfreezing_shift.core import (  # noqa: F401
    FASHION_LRS,
    FASHION_SEEDS,
    FASHION_STEPS,
    Record,
    fashion_sweep,
    mean_of,
    photo_run,
    recipe_bars,
    schedule_matrix,
    stored_fashion_sweep,
    trainable_at,
    unfreezing_view,
)
from ftkit.studies.unfreezing_shift.exercises import (  # noqa: F401
    PREDICTIONS,
    check_recipe_choice,
    check_stage,
    outcome,
    predict_then_measure,
)
