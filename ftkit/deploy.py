"""Ship a fine-tuned model: export it, prove the export computes the same thing, save its
weights with a checksum, and predict one image file the way training saw its images.

- ``export_program`` / ``load_program``: ``torch.export`` (an ``ExportedProgram`` saved as
  ``.pt2``), PyTorch's own deployment format. TorchScript (``torch.jit``) is deprecated in recent
  PyTorch releases, so ftkit does not use it.
- ``export_onnx`` / ``onnx_runner``: ONNX for other runtimes. The export uses the fast
  TorchScript-based exporter (``dynamo=False``) by default; the runner uses onnxruntime when it
  is installed, else ONNX's own pure-Python reference evaluator (slow, but exact enough to check).
- ``compare``: max absolute logit difference and argmax agreement of two models over a loader.
- ``save_weights`` / ``load_weights``: the state_dict (plus class names and input settings)
  through ``ftkit.checkpoints``: written atomically next to a ``.sha256``; loading verifies the
  checksum, then uses ``torch.load(..., weights_only=True)``, which cannot execute code hidden
  in a file.
- ``preprocess`` / ``predict``: one image file -> (class name, probability), with exactly the
  resize, crop and normalisation that ``folders.image_folder_splits`` + ``data.eval_transforms``
  applied to the training images.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.transforms import v2

from ftkit import checkpoints, checks, data, folders, inference, layers, outputs
from ftkit.models import BackboneInfo
from ftkit.runtime import latency as latency  # re-exported: deploy is where learners look
from ftkit.runtime import onnxruntime_runner as onnxruntime_runner

# --- preprocessing and prediction ----------------------------------------------------------


def preprocess(image_path: str | Path, info: BackboneInfo) -> torch.Tensor:
    """One image file -> a normalised (1, 3, S, S) batch, as the folder's training images were.

    Any mode (grayscale, RGBA, palette) becomes RGB (``folders.load_rgb``); the shorter side is
    resized to ``info.image_size`` and the centre cropped, then ``data.eval_transforms``.
    """
    resize = v2.Compose(
        [v2.PILToTensor(), v2.Resize(info.image_size), v2.CenterCrop(info.image_size)]
    )
    pixels = resize(folders.load_rgb(str(Path(image_path).expanduser())))  # (3, S, S) uint8
    return data.eval_transforms(info)(pixels).unsqueeze(0)


def predict(
    model: nn.Module, image_path: str | Path, *, info: BackboneInfo, classes: Sequence[str]
) -> tuple[str, float]:
    """The predicted class name of one image file and its softmax probability.

    >>> predict(model, "my_photos/cat/001.jpg", info=info, classes=splits.classes)  # doctest: +SKIP
    ('cat', 0.97)
    """
    batch = [(preprocess(image_path, info), torch.zeros(1))]
    probs = torch.softmax(inference.logits(model, batch)[0], dim=1)[0].cpu()  # (C,)
    if len(probs) != len(classes):
        raise _classes_error(len(classes), len(probs))
    index = int(probs.argmax())
    return classes[index], float(probs[index])


def probabilities(model: nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax probabilities (N, C) and labels (N,) over ``loader``, in eval mode (each
    module's mode restored after), on the CPU."""
    out, labels = inference.logits(model, loader)
    return torch.softmax(out, dim=1).cpu(), labels.cpu()


# --- export --------------------------------------------------------------------------------


def export_program(
    model: nn.Module, example: torch.Tensor, path: str | Path, *, overwrite: bool = False
) -> Path:
    """``torch.export`` the model in eval mode with a dynamic batch size; save it as ``.pt2``.

    Written atomically; an existing file is kept unless ``overwrite=True``. Each module's
    train/eval mode is restored afterwards.
    """
    _check_example(example)
    path = outputs.new_file(path, overwrite=overwrite)  # before the export's work
    with inference.eval_mode(model):
        batch = torch.export.Dim("batch", min=1, max=4096)
        program = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    with outputs.atomic_path(path, overwrite=overwrite) as tmp:
        torch.export.save(program, tmp)
    return path


def _check_example(example: object) -> None:
    checks.is_tensor("example", example, ndim=4, floating=True)
    if example.shape[0] < 2:
        raise checks.fail(
            "example must be a batch of at least 2 images (a batch of 1 fixes the batch size)",
            checks.shown(f"shape {tuple(example.shape)}"),
            "repeat it: example.repeat(2, 1, 1, 1).",
        )


def load_program(path: str | Path) -> nn.Module:
    """A saved ``ExportedProgram`` as a callable module (no Python class of the model needed)."""
    return torch.export.load(str(path)).module()


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    dynamo: bool = False,
    overwrite: bool = False,
) -> Path:
    """Export to ONNX (input ``images`` (N, 3, S, S), output ``logits`` (N, C), dynamic N) and
    validate the file with ``onnx.checker``.

    ``dynamo=False`` uses the TorchScript-based exporter: well under a second for these models.
    ``dynamo=True`` is the ``torch.export``-based exporter that newer PyTorch makes the default;
    it works too but takes seconds. The legacy exporter's deprecation warning is silenced here
    because choosing it is deliberate. Written atomically; an existing file is kept unless
    ``overwrite=True``; each module's mode is restored afterwards.
    """
    import onnx

    _check_example(example)
    path = outputs.new_file(path, overwrite=overwrite)
    with outputs.atomic_path(path, overwrite=overwrite) as tmp:
        _onnx_export(model, example, tmp, dynamo)
        onnx.checker.check_model(onnx.load(str(tmp)))
    return path


def _onnx_export(model: nn.Module, example: torch.Tensor, path: Path, dynamo: bool) -> None:
    with inference.eval_mode(model), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        kwargs = (
            {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=4096)},)}
            if dynamo
            else {"dynamic_axes": {"images": {0: "batch"}, "logits": {0: "batch"}}}
        )
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=dynamo,
            input_names=["images"],
            output_names=["logits"],
            **kwargs,
        )


def onnx_runtime_name() -> str:
    """``"onnxruntime"`` when installed, else ``"onnx.reference"`` (ships with ``onnx``)."""
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") else "onnx.reference"


def onnx_runner(path: str | Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function images (N, 3, S, S) -> logits (N, C) that runs the ONNX file."""
    if onnx_runtime_name() == "onnxruntime":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {"images": x.numpy()})[0])

        return run
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(str(path))

    def run_reference(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(evaluator.run(None, {"images": x.numpy()})[0]))

    return run_reference


@torch.no_grad()
def compare(
    reference: Callable[[torch.Tensor], torch.Tensor],
    candidate: Callable[[torch.Tensor], torch.Tensor],
    loader,
) -> dict:
    """Run both on every batch: ``max_abs_diff`` of the logits, ``same_argmax`` (all agree),
    ``images`` (how many were compared)."""
    worst, same, n = 0.0, True, 0
    for x, _ in loader:
        a, b = reference(x).float(), candidate(x).float()
        worst = max(worst, (a - b).abs().max().item())
        same &= bool((a.argmax(1) == b.argmax(1)).all())
        n += x.shape[0]
    return {"max_abs_diff": worst, "same_argmax": same, "images": n}


# --- weights with a checksum ---------------------------------------------------------------


def save_weights(
    model: nn.Module,
    path: str | Path,
    *,
    classes: Sequence[str],
    info: BackboneInfo,
    overwrite: bool = False,
) -> str:
    """Save the state_dict with the class names and input settings (plain values, loadable
    with ``weights_only=True``) and ``<path>.sha256`` beside it; return the sha256.

    Written atomically by ``checkpoints.save``; an existing file is kept unless
    ``overwrite=True``.
    """
    _check_classes(model, classes)
    outputs.new_files([path, checkpoints.sha256_path(path)], overwrite=overwrite)
    blob = {
        "state_dict": model.state_dict(),
        "classes": list(classes),
        "backbone": info.name,
        "image_size": info.image_size,
        "mean": list(info.mean),
        "std": list(info.std),
    }
    return checkpoints.save(blob, path, overwrite=overwrite)


def _check_classes(model: nn.Module, classes: Sequence[str]) -> None:
    if isinstance(classes, str) or not all(isinstance(c, str) for c in classes):
        raise checks.fail("classes must be a list of class names", classes, "e.g. splits.classes.")
    try:
        head = layers.head_of(model)[1]
    except TypeError:
        return
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    if linears and linears[-1].out_features != len(classes):
        raise _classes_error(len(classes), linears[-1].out_features)


def _classes_error(names: int, outputs_: int) -> checks.InputError:
    return checks.fail(
        "classes must name every output of the model's head",
        checks.shown(f"{names} names for {outputs_} outputs"),
        "pass the class names the model was trained with (splits.classes, or "
        'load_weights(path)["classes"]).',
    )


def load_weights(path: str | Path) -> dict:
    """The saved dict (``state_dict``, ``classes``, ``image_size``, ``mean``, ``std``), after
    checking the file against its ``.sha256``; raises ``ChecksumError`` if they differ."""
    return checkpoints.load(path, fix="Do not use this file; save the weights again.")


def info_from(saved: dict) -> BackboneInfo:
    """The ``BackboneInfo`` (input size, normalisation) recorded by ``save_weights``."""
    return BackboneInfo(
        saved["backbone"], int(saved["image_size"]), tuple(saved["mean"]), tuple(saved["std"])
    )


def describe(saved: dict) -> str:
    """A one-line JSON summary of a saved file's metadata (everything but the weights)."""
    return json.dumps({k: v for k, v in saved.items() if k != "state_dict"})
