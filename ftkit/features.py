"""Frozen-backbone features, computed once and cached; linear probes trained on them.

A frozen backbone maps each image to the same feature vector every epoch, so a linear probe
needs the backbone only once: extract the features, then train the head on a small (N, D)
tensor (``ftkit.probes``). ``linear_probe_recompute`` runs the identical optimisation but
recomputes the features every epoch, which is what a fit loop over a frozen model does; the
benchmark compares the two.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ftkit import checks, compatibility, fingerprints, inference, models, outputs, preflight
from ftkit.compatibility import EMPTY_FIX
from ftkit.devices import device_of, resolve_device

# re-exported: the cache's keys (ftkit.fingerprints)
from ftkit.fingerprints import UncacheableError as UncacheableError
from ftkit.fingerprints import dataset_fingerprint as dataset_fingerprint
from ftkit.fingerprints import weights_checksum as weights_checksum
from ftkit.history import History
from ftkit.probes import Features, train_head

# re-exported: lessons call features.train_linear_probe and features.probe_accuracy
from ftkit.probes import probe_accuracy as probe_accuracy
from ftkit.probes import train_linear_probe as train_linear_probe


class _StopForward(Exception):
    """Raised by a hook once the wanted layer has run: the rest of the network is not needed."""


def feature_module(backbone: nn.Module, layer: str) -> nn.Module:
    """The module whose output is the ``layer`` feature: a submodule name or a layer group.

    ``"avgpool"`` is the pooled vector the head sees. A layer-group name (``"stem"``,
    ``"layer1"`` .. ``"layer4"``, see ``models.layer_groups``) is that stage's output; the
    ResNet stem ends at ``maxpool`` (an Identity in the embedded backbone). A network without
    an ``avgpool`` module (SqueezeNet) gives its ``features`` trunk, pooled here to (N, C).
    """
    if layer == "avgpool" and not hasattr(backbone, "avgpool") and hasattr(backbone, "features"):
        return backbone.features
    if layer == "stem" and hasattr(backbone, "maxpool"):
        return backbone.maxpool
    try:
        groups = models.layer_groups(backbone)
    except TypeError:
        groups = {}
    if layer in groups:
        group = groups[layer]
        return group[-1] if isinstance(group, nn.ModuleList) else group
    try:
        return backbone.get_submodule(layer)
    except AttributeError:
        raise ValueError(
            f"unknown layer {layer!r}: use 'avgpool', a layer group ({', '.join(groups)}) "
            "or a submodule name"
        ) from None


def extract_features(
    backbone: nn.Module,
    loader: DataLoader,
    *,
    layer: str = "avgpool",
    device: torch.device | str | None = None,
) -> Features:
    """Features (N, D) and labels (N,) of every batch of ``loader``, in the loader's order.

    The backbone runs in eval mode under ``torch.inference_mode`` (each module's previous mode
    is restored, see ``ftkit.inference``); the forward stops at ``layer``. Spatial maps
    (N, C, H, W) are global-average-pooled to (N, C). Features stay on the device until the
    end and come back on the CPU as float32.
    """
    device = resolve_device(device) if device is not None else device_of(backbone)
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)
        raise _StopForward

    handle = feature_module(backbone, layer).register_forward_hook(hook)
    feats, labels = [], []
    try:
        with inference.eval_mode(backbone), torch.inference_mode():
            for images, targets in loader:
                try:
                    backbone(images.to(device, non_blocking=True))
                except _StopForward:
                    pass
                feats.append(_pool(captured.pop()).float())  # (B, D), on the device
                labels.append(torch.as_tensor(targets).long())
    finally:
        handle.remove()
    if not feats:
        raise ValueError("the loader yielded no batch: there is nothing to extract features from")
    return torch.cat(feats).cpu(), torch.cat(labels)  # one copy to the host


def _pool(output: torch.Tensor) -> torch.Tensor:
    if output.ndim == 4:  # (B, C, H, W) -> (B, C)
        return output.mean(dim=(2, 3))
    return torch.flatten(output, 1)


def in_order(loader: DataLoader) -> DataLoader:
    """The loader's dataset in index order (no shuffling), same batch size and workers."""
    return DataLoader(
        loader.dataset,
        batch_size=loader.batch_size or 256,
        shuffle=False,
        num_workers=loader.num_workers,
    )


# --- the cache -----------------------------------------------------------------------------


class FeatureCache:
    """Features computed once per (modules on the path to the layer, layer, dataset), in memory
    and optionally on disk as ``<directory>/<key>.pt``.

    The key (``ftkit.fingerprints``) covers the weights, buffers and settings of every module
    that runs before the layer's output (a new pooling layer counts; a new head counts only for
    ``layer="fc"``), the images' contents (pixels or file bytes, not paths), the labels and the
    transform's behaviour (torchvision settings, or the transformed items themselves). A random
    transform is refused (``UncacheableError``): cache the un-augmented data. A disk entry that
    is unreadable, truncated or altered is detected by its checksum and computed again, and
    features edited in place after they were returned are recomputed, not served.

    >>> cache = FeatureCache()
    >>> train_feats, train_labels = cache.features(backbone, train_loader)  # doctest: +SKIP
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = outputs.writable_dir(directory) if directory is not None else None
        self._memory: dict[str, tuple[Features, str]] = {}
        self.hits = 0
        self.misses = 0

    def key(self, backbone: nn.Module, dataset: Dataset, layer: str = "avgpool") -> str:
        """``<path checksum>-<layer>-<dataset fingerprint>``, shortened."""
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise checks.fail("the dataset is empty", checks.shown("0 images"), EMPTY_FIX)
        target = feature_module(backbone, layer)
        example = fingerprints.example_batch(dataset).to(device_of(backbone))
        path = fingerprints.path_checksum(backbone, target, example)
        data = fingerprints.dataset_fingerprint(dataset)
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in layer)
        return f"{path[:16]}-{safe}-{data[:16]}"

    def features(
        self,
        backbone: nn.Module,
        loader: DataLoader,
        *,
        layer: str = "avgpool",
        device: torch.device | str | None = None,
    ) -> Features:
        """Features and labels of ``loader.dataset`` in index order, computed at most once."""
        compatibility.check_compatible(backbone, loader, name="loader", head=False, run_model=False)
        key = self.key(backbone, loader.dataset, layer)
        if key in self._memory:
            result, digest = self._memory[key]
            if fingerprints.entry_checksum(result) == digest:
                self.hits += 1
                return result
            warnings.warn(
                f"the features of cache entry {key} were changed in place after they were "
                "returned; computing them again (copy them before editing: feats.clone())",
                stacklevel=2,
            )
        path = self.directory / f"{key}.pt" if self.directory is not None else None
        result = (
            fingerprints.read_entry(path, key, len(loader.dataset)) if path is not None else None
        )
        if result is not None:
            self.hits += 1
        else:
            self.misses += 1
            result = extract_features(backbone, in_order(loader), layer=layer, device=device)
            if path is not None:
                fingerprints.write_entry(path, key, result)
        self._memory[key] = (result, fingerprints.entry_checksum(result))
        return result

    def clear(self) -> None:
        """Forget the in-memory entries (files on disk stay)."""
        self._memory.clear()


# --- linear probes on these features (the probe itself: ftkit.probes) ---------------------


def linear_probe(
    backbone: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    num_classes: int,
    layer: str = "avgpool",
    cache: FeatureCache | None = None,
    device: torch.device | str | None = None,
    **probe_kwargs,
) -> tuple[nn.Linear, History]:
    """Extract (or fetch from ``cache``) features once, then ``probes.train_linear_probe`` on
    them; returns the head and its ``History``."""
    preflight.probe_loaders(**locals())  # before extracting: the numbers and the loaders
    cache = cache if cache is not None else FeatureCache()
    train = cache.features(backbone, train_loader, layer=layer, device=device)
    val = (
        cache.features(backbone, val_loader, layer=layer, device=device)
        if val_loader
        else (None, None)
    )
    device = device if device is not None else device_of(backbone)  # the probe runs there too
    return train_linear_probe(*train, *val, num_classes=num_classes, device=device, **probe_kwargs)


def linear_probe_recompute(
    backbone: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader | None = None,
    *,
    num_classes: int,
    layer: str = "avgpool",
    epochs: int = 100,
    lr: float = 0.05,
    weight_decay: float = 1e-2,
    batch_size: int | None = None,
    seed: int = 0,
    standardize: bool = True,
    device: torch.device | str | None = None,
) -> tuple[nn.Linear, History]:
    """``linear_probe`` without the cache: the backbone re-runs on every image every epoch.

    Same initialisation, minibatch order, optimiser and standardisation as
    ``train_linear_probe``; only the source of the features differs. It exists to measure what
    caching saves.
    """
    preflight.probe_loaders(**locals())  # before extracting: the numbers and the loaders

    device = device if device is not None else device_of(backbone)

    def run(loader: DataLoader) -> Callable[[int], Features]:
        return lambda epoch: extract_features(
            backbone, in_order(loader), layer=layer, device=device
        )

    return train_head(
        run(train_loader),
        run(val_loader) if val_loader is not None else None,
        num_classes=num_classes,
        epochs=epochs,
        lr=lr,
        weight_decay=weight_decay,
        batch_size=batch_size,
        seed=seed,
        standardize=standardize,
        device=device,
    )
