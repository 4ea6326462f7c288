"""Running an exported model where it is deployed: onnxruntime, and latency measured fairly
(interleaved repetitions, seconds per image). ``ftkit.deploy`` re-exports both names."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch


def onnxruntime_runner(
    path: str | Path, *, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function images (N, 3, S, S) -> logits (N, C) that runs the ONNX file in onnxruntime.

    Unlike ``onnx_runner`` it never falls back to the reference evaluator: deployment means
    onnxruntime. ``threads`` sets onnxruntime's intra-op threads; by default as many as torch
    uses (``torch.get_num_threads()``), so that a latency comparison with PyTorch is fair.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f"onnxruntime is not installed ({exc}). Install it with `pip install onnxruntime` "
            "(or `pip install -e '.[test]'` in the ftkit repository)."
        ) from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(path), sess_options=options, providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy()})[0])

    return run


@torch.no_grad()
def latency(
    runners: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    images: torch.Tensor,
    *,
    repeats: int = 20,
    warmup: int = 2,
) -> dict[str, list[float]]:
    """Seconds per image of each runner on the same ``images``: ``repeats`` values per runner.

    Repetitions are interleaved (A B A B ...), so a slowdown of the machine hits every runner
    alike: compare medians, or better their ratio, measured in one call.

    >>> times = latency({"a": lambda x: x + 1, "b": lambda x: x * 2}, torch.zeros(4, 3))
    >>> sorted(times), len(times["a"])
    (['a', 'b'], 20)
    """
    if repeats < 1 or warmup < 0 or len(images) == 0:
        raise ValueError(
            f"need repeats >= 1, warmup >= 0 and at least one image; got repeats={repeats}, "
            f"warmup={warmup}, {len(images)} images"
        )
    times: dict[str, list[float]] = {name: [] for name in runners}
    for round_ in range(warmup + repeats):
        for name, run in runners.items():
            started = time.perf_counter()
            run(images)
            if round_ >= warmup:
                times[name].append((time.perf_counter() - started) / len(images))
    return times
