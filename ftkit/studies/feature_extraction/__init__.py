"""Lesson 02: feature extraction (a frozen backbone and a new head) measured against training
from scratch on digits, and against random-init features and raw pixels on real photographs.

Every comparison goes through ``ftkit.protocol``: each method tuned on the validation split over
a grid of the same size, budgets in optimizer steps, paired seeds. Scores are balanced accuracy
(the mean per-class recall), which is plain accuracy on a balanced test set such as the digits'
and stays fair on an imbalanced one such as Tux Paint's photos.

The lesson's experiments live in ``core``, the race it replays in ``stored``, its exercise
checkers in ``exercises``; all are re-exported here, so
``from ftkit.studies import feature_extraction`` gives the lesson everything."""

from ftkit.studies.feature_extraction.core import (  # noqa: F401
    PHOTO_GRID,
    SEEDS,
    Features,
    ProbeResult,
    balanced_accuracy,
    compare_photo_features,
    compare_probe_scratch,
    misclassified_figure,
    photo_scores,
    pixel_features,
    probe,
    probe_scores,
    scratch_scores,
)
from ftkit.studies.feature_extraction.exercises import (  # noqa: F401
    GAP_PREDICTIONS,
    PLENTY_OPTIONS,
    check_backbone_passes,
    check_budget_prediction,
    check_plenty_of_labels,
    check_trainable_parameters,
)
from ftkit.studies.feature_extraction.stored import (  # noqa: F401
    RESULTS,
    load_race,
    save_race,
)
