"""ipywidgets explorers: thin layers over pure functions that return a figure.

Every explorer is ``ipywidgets.interactive`` around a pure function; the function is public so
that tests and learners can call it without widgets. Moving a control calls the function with
the new values and shows the returned figure in the widget's output area.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets


def explorer(fn: Callable[..., Any], **controls: Any) -> widgets.interactive:
    """Controls for ``fn``'s keyword arguments; each change redraws ``fn(**values)``.

    Controls follow ``ipywidgets.interact``: a widget, ``(min, max, step)`` for a slider, a
    list for a dropdown, a bool for a checkbox, ``ipywidgets.fixed(v)`` for a constant.

    >>> explorer(lambda lr: plots.lr_finder_plot(result), lr=(1e-4, 1.0))  # doctest: +SKIP
    """
    return widgets.interactive(fn, **controls)


def control(widget: widgets.interactive, name: str) -> widgets.Widget:
    """The control of ``name`` in an explorer (to read or set it programmatically)."""
    for child in widget.kwargs_widgets:
        if child._kwarg == name:
            return child
    raise KeyError(
        f"no control named {name!r}; controls: {[c._kwarg for c in widget.kwargs_widgets]}"
    )
