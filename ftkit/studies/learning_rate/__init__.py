"""Lesson 04: the learning rate of fine-tuning, measured.

Tables, forgetting against the LR, LR x batch grids, schedule shapes and the explorer's view live
in ``core``; the runs this lesson replays instead of training again (each checked against one
live re-run) in ``stored``; the exercise checkers in ``exercises``. All are re-exported here, so
``from ftkit.studies import learning_rate`` gives the lesson everything."""

from ftkit.studies.learning_rate.core import (  # noqa: F401
    as_records,
    balanced_accuracy,
    forgetting_plot,
    grid_heatmap,
    lr_choice_preview,
    lr_explorer,
    lr_run_preview,
    schedule_shapes_plot,
    sweep_table,
)
from ftkit.studies.learning_rate.exercises import (  # noqa: F401
    check_change_prediction,
    check_first_lr,
    check_layer2_lr,
    check_two_groups,
)
from ftkit.studies.learning_rate.stored import (  # noqa: F401
    RESULTS,
    largest_gap,
    load_runs,
    save_runs,
)
