"""Parameter-efficient fine-tuning, measured (lesson 09): which parameters to train, and what
each choice costs in trainable parameters, stored bytes, target accuracy and forgetting.

- ``runs``: the methods, one training run, the stored sweep (methods x LRs x seeds, each
  method's LR chosen on validation by ``ftkit.protocol``), latency and epoch timing.
- ``figures``: the cost/accuracy/forgetting table and plots, the explorer's view.
- ``checks``: the exercise checkers (their answers live there, not in the notebook).

The sweep takes far longer than a lesson may, so it is run once
(``python -m ftkit.studies.parameter_efficient``) and stored in
``ftkit/studies/results/parameter_efficient_sweep.json``; the lesson re-runs part of it live and
checks it against the stored runs.
"""

from ftkit.studies.parameter_efficient.checks import (
    PREDICTIONS,
    check_lora_count,
    check_prediction,
    check_storage,
    measure_lr,
)
from ftkit.studies.parameter_efficient.figures import (
    KIND_COLORS,
    efficiency_plot,
    efficiency_table,
    learning_forgetting_plot,
    lora_view,
    summary,
)
from ftkit.studies.parameter_efficient.runs import (
    ALPHA,
    BATCH_SIZE,
    GRIDS,
    LAYERS,
    RANKS,
    RESULTS,
    SEEDS,
    STEPS,
    Method,
    agreement,
    epoch_seconds,
    load_sweep,
    methods,
    new_model,
    run_sweep,
    train,
)

__all__ = [
    "ALPHA",
    "BATCH_SIZE",
    "GRIDS",
    "KIND_COLORS",
    "LAYERS",
    "PREDICTIONS",
    "RANKS",
    "RESULTS",
    "SEEDS",
    "STEPS",
    "Method",
    "agreement",
    "check_lora_count",
    "check_prediction",
    "check_storage",
    "efficiency_plot",
    "efficiency_table",
    "epoch_seconds",
    "learning_forgetting_plot",
    "load_sweep",
    "lora_view",
    "measure_lr",
    "methods",
    "new_model",
    "run_sweep",
    "summary",
    "train",
]
