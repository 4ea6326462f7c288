"""Lesson 01: choosing a pretrained model, and what each of its blocks knows.

A probe is a linear classifier trained on fixed features (``ftkit.features``), scored by
balanced accuracy (the mean of the per-class recalls: plain accuracy on a balanced test set,
and fair on an imbalanced one). Probing the pooled output of every block (stem, layer1 ..
layer4) of a pretrained and of a randomly initialised backbone measures how transferable each
depth is (in the spirit of Yosinski et al., 2014). Probing the last features of several
candidate backbones on one target, beside their size and speed, is a measured model choice.
Every comparison goes through ``ftkit.protocol`` (tuned on validation, paired seeds).

The lesson's experiments live in ``core``, its exercise checkers in ``exercises``; both are
re-exported here, so ``from ftkit.studies import anatomy`` gives the lesson
everything."""

from ftkit.studies.anatomy.core import (  # noqa: F401
    BLOCKS,
    PROBE_GRID,
    Candidate,
    activations_figure,
    balanced_accuracy,
    block_activations,
    block_records,
    block_scores,
    compare_blocks,
    compare_candidates,
    gap_growth,
    size_and_speed,
)
from ftkit.studies.anatomy.exercises import (  # noqa: F401
    SIZE_PREDICTIONS,
    check_layer3_size,
    check_layer4_parameters,
    check_new_head_parameters,
    check_size_prediction,
)
