"""Fingerprints of everything that decides a feature: the modules that run up to a layer, the
transform's behaviour and the images' contents. ``features.FeatureCache`` keys its entries by
them, so a changed input can never return an old feature.

- ``path_checksum``: runs the backbone on one example and hashes every module whose forward
  started before the wanted layer finished (their weights, buffers, settings, and the source of
  classes that are not torch's), so a new pooling layer counts, and so does a new head when the
  layer is ``"fc"``, while a head after the layer does not.
- ``transform_key``: torchvision transforms by class and settings; a transform whose behaviour
  cannot be read that way (``Lambda``, your own function) is measured instead: the dataset's
  items are hashed after the transform, once it is shown to give the same output twice. A random
  transform (augmentation) cannot be cached and is refused by name.
- ``dataset_fingerprint``: the pixels (tensors, or the files' bytes, not their paths), the labels
  and the transform.
- ``read_entry`` / ``write_entry``: a cache entry on disk carries its key and the sha256 of its
  tensors, so a truncated, unreadable or altered file is detected (and recomputed by the cache).
"""

from __future__ import annotations

import hashlib
import inspect
import random
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.data import Dataset, default_collate

from ftkit import inference, models, outputs
from ftkit.checks import InputError
from ftkit.compatibility import untouched_random_state

_RANDOM = {"ColorJitter", "RandAugment", "AutoAugment", "TrivialAugmentWide", "AugMix"}
_RANDOM |= {"ElasticTransform", "GaussianNoise", "ScaleJitter", "MixUp", "CutMix", "JPEG"}
_KNOWN_LOADERS = {"ftkit.images.load_rgb", "torchvision.datasets.folder.default_loader"}
_KNOWN_LOADERS |= {"torchvision.datasets.folder.pil_loader"}


class UncacheableError(InputError):
    """Data whose features differ from pass to pass (random augmentation): not cacheable."""


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().contiguous()
    return f"{tuple(t.shape)}{t.dtype}".encode() + t.view(-1).view(torch.uint8).numpy().tobytes()


def weights_checksum(backbone: nn.Module, *, skip_head: bool = True) -> str:
    """sha256 of the state_dict tensors (names, shapes, values; BN statistics included); the
    head (``fc``/``classifier``) is skipped unless ``skip_head=False``."""
    skip = ""
    if skip_head:
        try:
            skip = models.head_of(backbone)[0] + "."
        except TypeError:
            pass
    digest = hashlib.sha256()
    for name, tensor in backbone.state_dict().items():
        if not (skip and name.startswith(skip)):
            digest.update(name.encode() + _tensor_bytes(tensor))
    return digest.hexdigest()


class _Stop(Exception):
    pass


@torch.no_grad()
def modules_on_path(backbone: nn.Module, target: nn.Module, example: torch.Tensor) -> list:
    """The (name, module) pairs whose forward started before ``target`` finished, in order."""
    started: dict[int, nn.Module] = {}

    def record(module: nn.Module, args: tuple) -> None:
        started.setdefault(id(module), module)

    def stop(module: nn.Module, args: tuple, output: object) -> None:
        raise _Stop

    handles = [m.register_forward_pre_hook(record) for m in backbone.modules()]
    handles.append(target.register_forward_hook(stop))
    try:
        with inference.eval_mode(backbone), untouched_random_state():
            backbone(example)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    names = {id(m): n for n, m in backbone.named_modules(remove_duplicate=False)}
    return [(names.get(i, "?"), m) for i, m in started.items()]


def path_checksum(backbone: nn.Module, target: nn.Module, example: torch.Tensor) -> str:
    """sha256 of every module on the path to ``target`` (see ``modules_on_path``)."""
    digest = hashlib.sha256()
    for name, module in modules_on_path(backbone, target, example):
        digest.update(f"{name}:{_class_key(type(module))}:{_settings(module)}".encode())
        for pname, tensor in [
            *module.named_parameters(recurse=False),
            *module.named_buffers(recurse=False),
        ]:
            digest.update(pname.encode() + _tensor_bytes(tensor))
    return digest.hexdigest()


def _class_key(cls: type) -> str:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if cls.__module__.split(".")[0] in ("torch", "torchvision"):
        return name
    try:  # your own module class: its code decides the feature too
        return name + hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return name


def _settings(obj: object) -> str:
    """The plain public settings of a module or transform (numbers, strings, tuples...)."""
    plain = (bool, int, float, str, tuple, list, dict, type(None), torch.dtype, torch.Size)
    items = []
    for key, value in sorted(vars(obj).items()):
        if key.startswith("_") or key == "training":
            continue
        if isinstance(value, torch.Tensor):
            items.append(f"{key}={hashlib.sha256(_tensor_bytes(value)).hexdigest()}")
        elif isinstance(value, plain) or type(value).__module__.startswith("torchvision"):
            items.append(f"{key}={value!r}")
    return ",".join(items)


def transform_key(transform: object) -> str | None:
    """A key for a transform's behaviour, ``None`` when it must be measured on the data.

    Raises ``UncacheableError`` for a random torchvision transform (augmentation).
    """
    if transform is None:
        return "None"
    cls = type(transform)
    if not cls.__module__.startswith("torchvision.transforms"):
        return None  # a function, a lambda, your own class: measured on the data
    name = cls.__name__
    if name.startswith("Random") or name in _RANDOM:
        raise UncacheableError(_random_message(repr(transform)))
    if name == "Lambda":
        return None
    if name == "Compose":
        parts = [transform_key(t) for t in transform.transforms]
        return None if None in parts else f"Compose[{'|'.join(parts)}]"
    return f"{_class_key(cls)}({_settings(transform)})"


def _random_message(what: str) -> str:
    return (
        "the features of randomly augmented images change on every pass, so a cache would "
        f"freeze one random draw; got a random transform: {what}. Fix: cache the "
        "un-augmented data (e.g. dataset.with_transform(data.eval_transforms(info))); train "
        "with augmentation through training.fit, which sees fresh draws every epoch."
    )


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 of what a dataset gives: its images' contents, its labels and its transform.

    In-memory datasets (``images``/``labels`` tensors) hash their pixels; image folders hash
    their files' bytes (not their paths); anything else, or any transform whose behaviour cannot
    be read from its settings, is hashed item by item after the transform.
    """
    digest = hashlib.sha256(f"torchvision {torchvision.__version__}".encode())
    keys = [transform_key(getattr(dataset, a, None)) for a in ("transform", "target_transform")]
    loader = getattr(dataset, "loader", None)
    loader_known = loader is None or f"{loader.__module__}.{loader.__qualname__}" in _KNOWN_LOADERS
    if None in keys or not loader_known:
        _hash_items(dataset, digest)
    elif isinstance(getattr(dataset, "images", None), torch.Tensor):
        digest.update("|".join(keys).encode())
        digest.update(
            _tensor_bytes(dataset.images) + _tensor_bytes(torch.as_tensor(dataset.labels))
        )
    elif hasattr(dataset, "samples"):
        digest.update("|".join(keys).encode())
        for path, label in dataset.samples:
            with open(path, "rb") as f:
                digest.update(hashlib.sha256(f.read()).digest() + str(int(label)).encode())
    else:
        _hash_items(dataset, digest)
    return digest.hexdigest()


def _item_bytes(item: object) -> bytes:
    if isinstance(item, torch.Tensor):
        return _tensor_bytes(item)
    if isinstance(item, (tuple, list)):
        return b"(" + b",".join(_item_bytes(x) for x in item) + b")"
    if hasattr(item, "mode") and hasattr(item, "size"):  # a PIL image
        return f"{item.mode}{item.size}".encode() + np.asarray(item).tobytes()
    if isinstance(item, np.ndarray):
        return f"{item.shape}{item.dtype}".encode() + item.tobytes()
    return repr(item).encode()


def _hash_items(dataset: Dataset, digest) -> None:
    """Every item after the transform, once the first one is shown to be reproducible."""
    if len(dataset):
        _check_deterministic(lambda: dataset[0], getattr(dataset, "transform", dataset))
    for i in range(len(dataset)):
        digest.update(_item_bytes(dataset[i]))


def _check_deterministic(make: Callable[[], object], what: object) -> None:
    draws = []
    with untouched_random_state():
        for seed in (1, 2):
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed)
            draws.append(_item_bytes(make()))
    if draws[0] != draws[1]:
        raise UncacheableError(_random_message(repr(what)))


def example_batch(dataset: Dataset) -> torch.Tensor:
    """The dataset's first image as a batch of one, to trace the path through the backbone."""
    with untouched_random_state():
        images_, _ = default_collate([dataset[0]])
    return images_


# --- the cache's entries on disk ------------------------------------------------------


def entry_checksum(result: tuple[torch.Tensor, torch.Tensor]) -> str:
    """sha256 of a cache entry's features and labels (to detect corrupt or edited entries)."""
    digest = hashlib.sha256()
    for t in result:
        digest.update(t.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_entry(path: Path, key: str, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A disk entry if it is complete and intact; ``None`` (with a warning) if it is not."""
    if not path.exists():
        return None
    feats = labels = None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        feats, labels = blob["features"], blob["labels"]
        problem = _entry_problem(blob, key, n)
    except Exception as exc:  # unreadable, truncated, not a dict, missing tensors
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if problem is None:
        return feats, labels
    warnings.warn(
        f"cache entry {path} is corrupt: {problem}; computing the features again", stacklevel=3
    )
    return None


def _entry_problem(blob: dict, key: str, n: int) -> str | None:
    feats, labels = blob["features"], blob["labels"]
    if blob.get("key") != key:
        return "it was made for another key"
    if len(feats) != n or len(labels) != n:
        return f"it holds {len(feats)} rows for {n} images"
    if blob.get("sha256") != entry_checksum((feats, labels)):
        return "its checksum does not match its contents"
    return None


def write_entry(path: Path, key: str, result: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Write an entry atomically, with its key and checksum."""
    blob = {
        "features": result[0],
        "labels": result[1],
        "key": key,
        "sha256": entry_checksum(result),
    }
    with outputs.atomic_path(path, overwrite=True) as tmp:  # the cache's own file
        torch.save(blob, tmp)


__all__ = [
    "UncacheableError",
    "dataset_fingerprint",
    "entry_checksum",
    "example_batch",
    "modules_on_path",
    "path_checksum",
    "read_entry",
    "transform_key",
    "weights_checksum",
    "write_entry",
]
