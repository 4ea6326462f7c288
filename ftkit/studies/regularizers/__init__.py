"""Lesson 06: regularization, measured.

Each regularizer's strength is swept over decades and chosen on validation, with the test set
read only for the chosen setting (``compare_tested_once``); L1 goes into ``fit``'s loop as a
loss term (``fit_with_penalty``); labels made partly wrong (``with_wrong_labels``) give a
validation curve that turns, where early stopping can be measured against training to the end.

The lesson's experiments live in ``core``, the sweep it replays in ``stored``, its exercise
checkers in ``exercises``; all are re-exported here, so
``from ftkit.studies import regularizers`` gives the lesson everything."""

from ftkit.studies.regularizers.core import (  # noqa: F401
    Sweep,
    TestedOnce,
    compare_tested_once,
    curves_plot,
    early_stopping_difference,
    early_stopping_runs,
    finetune_run,
    fit_with_penalty,
    l1_penalty,
    strength_records,
    sweep_explorer,
    sweep_preview,
    with_wrong_labels,
)
from ftkit.studies.regularizers.exercises import (  # noqa: F401
    check_early_stopping_prediction,
    check_l2sp_by_hand,
    check_smoothed_target,
)
from ftkit.studies.regularizers.stored import (  # noqa: F401
    RESULTS,
    load_sweep,
    save_sweep,
)
