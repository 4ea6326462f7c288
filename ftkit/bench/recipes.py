"""The named recipes of the course's benchmark: one small function per fine-tuning method.

Each recipe takes a few-shot ``Splits`` and a seed, builds its model from the embedded backbone,
trains it with ``ftkit.training`` and returns a result dict (test accuracy, seconds, the number
of trainable parameters, and for the recipes that touch the backbone, the source-task accuracy
afterwards: forgetting).
Hyper-parameters are chosen on the validation split (see ``Settings``), never on the test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from ftkit import adapters, data, evaluation, features, freezing, models, training
from ftkit.data import Splits
from ftkit.models import BackboneInfo


@dataclass(frozen=True)
class Settings:
    """Defaults shared by every recipe, chosen on the digits validation split at k = 10."""

    epochs: int = 15
    batch_size: int = 32
    finetune_lr: float = 0.01  # SGD + Nesterov, cosine: "small" next to pretraining's 0.1
    scratch_lr: float = 0.05  # a network trained from random init wants a larger step
    high_lr: float = 0.2  # the too-high LR of the forgetting demonstrations
    probe_epochs: int = 100
    probe_lr: float = 0.05
    discriminative_factor: float = 2.6  # ULMFiT's spacing between layer-group LRs
    l2sp_alpha: float = 0.01
    stage_epochs: int = 3  # gradual unfreezing: epochs per newly unfrozen group
    # parameter-efficient methods train with AdamW (with SGD, LoRA's B, which starts at zero,
    # barely moves); LRs chosen on validation (digits, k=10, 3 seeds) from 0.001 / 0.003 / 0.01
    # / 0.03 by lesson 09's sweep (ftkit.studies.parameter_efficient)
    peft_optimizer: str = "adamw"
    bitfit_lr: float = 0.01
    lora_lr: float = 0.01
    lora_rank: int = 4  # on every convolution of the backbone
    lora_alpha: float = 4.0  # scale alpha / rank = 1


def new_model(
    num_classes: int, *, pretrained: bool = True, seed: int = 0
) -> tuple[nn.Module, BackboneInfo]:
    """The embedded backbone (pretrained or at random init) with a fresh, seeded head."""
    torch.manual_seed(seed)
    model, info = models.load_backbone("embedded", pretrained=pretrained)
    return models.replace_head(model, num_classes, seed=seed), info


def _loaders(splits: Splits, info: BackboneInfo, s: Settings, seed: int, augment: bool = False):
    transform = data.standard_augmentation(info) if augment else None
    return data.make_loaders(
        splits, info, batch_size=s.batch_size, seed=seed, train_transform=transform
    )


def _finetune(
    splits: Splits,
    seed: int,
    s: Settings,
    *,
    pretrained: bool = True,
    lr: float | dict | None = None,
    freeze: int = 0,
    augment: bool = False,
    forgetting: bool = False,
    prepare: Callable[[nn.Module], nn.Module] | None = None,
    **fit_kwargs,
) -> dict:
    torch.manual_seed(seed)  # a random-init backbone depends on it
    model, info = models.load_backbone("embedded", pretrained=pretrained)
    source_head = evaluation.keep_source_head(model) if forgetting else None
    torch.manual_seed(seed)
    models.replace_head(model, len(splits.classes), seed=seed)
    if freeze:
        freezing.freeze_to(model, freeze)
    if prepare is not None:  # choose what trains (BitFit) or add what trains (LoRA)
        torch.manual_seed(seed)
        model = prepare(model)
    train_loader, val_loader, test_loader = _loaders(splits, info, s, seed, augment)
    history = training.fit(
        model,
        train_loader,
        val_loader,
        epochs=s.epochs,
        lr=s.finetune_lr if lr is None else lr,
        schedule="cosine",
        seed=seed,
        **fit_kwargs,
    )
    result = {
        "accuracy": evaluation.accuracy(model, test_loader),
        "val_accuracy": history.val_acc[-1],
        "trainable_params": adapters.trainable_parameters(model),
    }
    if source_head is not None:
        result["source_accuracy_after"] = evaluation.source_task_accuracy(model, source_head, info)
    return result


def scratch(splits: Splits, seed: int, s: Settings) -> dict:
    """Same architecture, random init, every layer trained."""
    return _finetune(splits, seed, s, pretrained=False, lr=s.scratch_lr)


def finetune(splits: Splits, seed: int, s: Settings) -> dict:
    """Pretrained backbone, every layer trained at a small LR."""
    return _finetune(splits, seed, s, forgetting=True)


def high_lr(splits: Splits, seed: int, s: Settings) -> dict:
    """Full fine-tuning at a large LR: fits the target, erases the source task."""
    return _finetune(splits, seed, s, lr=s.high_lr, forgetting=True, on_divergence="stop")


def frozen(n: int) -> Callable[[Splits, int, Settings], dict]:
    """Freeze the first ``n`` layer groups (stem, layer1, ...), fine-tune the rest."""

    def recipe(splits: Splits, seed: int, s: Settings) -> dict:
        return _finetune(splits, seed, s, freeze=n)

    recipe.__doc__ = f"The first {n} layer group(s) frozen, the rest fine-tuned."
    return recipe


def bitfit(splits: Splits, seed: int, s: Settings) -> dict:
    """BitFit: only biases, batch-norm scales and shifts, and the head train."""
    return _finetune(
        splits,
        seed,
        s,
        lr=s.bitfit_lr,
        forgetting=True,
        prepare=adapters.bitfit,
        optimizer=s.peft_optimizer,
    )


def lora(splits: Splits, seed: int, s: Settings) -> dict:
    """LoRA (peft) of rank ``lora_rank`` on every convolution; the head trains in full."""
    return _finetune(
        splits,
        seed,
        s,
        lr=s.lora_lr,
        forgetting=True,
        prepare=lambda model: adapters.lora(model, s.lora_rank, alpha=s.lora_alpha),
        optimizer=s.peft_optimizer,
    )


def discriminative_lr(splits: Splits, seed: int, s: Settings) -> dict:
    """One LR per layer group, divided by ``discriminative_factor`` per group from the head down."""
    model, _ = models.load_backbone("embedded")
    lrs = training.discriminative_lrs(model, s.finetune_lr * 2, factor=s.discriminative_factor)
    return _finetune(splits, seed, s, lr=lrs, forgetting=True)


def augment(splits: Splits, seed: int, s: Settings) -> dict:
    """Full fine-tuning with label-preserving augmentation of the training images."""
    return _finetune(splits, seed, s, augment=True)


def l2sp(splits: Splits, seed: int, s: Settings) -> dict:
    """Full fine-tuning with an L2 penalty toward the pretrained weights (L2-SP)."""
    return _finetune(splits, seed, s, l2sp=s.l2sp_alpha, forgetting=True)


def linear_probe(splits: Splits, seed: int, s: Settings, *, pretrained: bool = True) -> dict:
    """Frozen backbone as a feature extractor, a new linear head trained on cached features."""
    torch.manual_seed(seed)  # a random-init backbone depends on it
    model, info = models.load_backbone("embedded", pretrained=pretrained)
    train_loader, _val_loader, test_loader = _loaders(splits, info, s, seed)
    cache = features.FeatureCache()
    head, _ = features.linear_probe(
        model,
        train_loader,
        num_classes=len(splits.classes),
        cache=cache,
        epochs=s.probe_epochs,
        lr=s.probe_lr,
        seed=seed,
    )
    test_feats, test_labels = cache.features(model, test_loader)
    return {
        "accuracy": features.probe_accuracy(head, test_feats, test_labels),
        "trainable_params": models.count_parameters(head),
    }


def linear_probe_random_init(splits: Splits, seed: int, s: Settings) -> dict:
    """The same probe on a randomly initialised backbone: what do random features give?"""
    return linear_probe(splits, seed, s, pretrained=False)


def _staged(method: Callable, splits: Splits, seed: int, s: Settings, **kwargs) -> dict:
    model, info = models.load_backbone("embedded")
    source_head = evaluation.keep_source_head(model)
    torch.manual_seed(seed)
    models.replace_head(model, len(splits.classes), seed=seed)
    train_loader, val_loader, test_loader = _loaders(splits, info, s, seed)
    method(model, train_loader, val_loader, seed=seed, **kwargs)
    return {
        "accuracy": evaluation.accuracy(model, test_loader),
        "source_accuracy_after": evaluation.source_task_accuracy(model, source_head, info),
        "trainable_params": models.count_parameters(model),  # every group trains by the end
    }


def gradual_unfreeze(splits: Splits, seed: int, s: Settings) -> dict:
    """ULMFiT: the head first, then one more layer group from the top every few epochs."""
    return _staged(
        training.gradual_unfreeze,
        splits,
        seed,
        s,
        epochs_per_stage=s.stage_epochs,
        lr=s.finetune_lr,
    )


def lp_ft(splits: Splits, seed: int, s: Settings) -> dict:
    """Linear probe first (backbone frozen), then fine-tune everything at a small LR."""
    return _staged(
        training.lp_ft,
        splits,
        seed,
        s,
        probe_epochs=s.epochs // 3,
        probe_lr=s.finetune_lr * 5,
        finetune_epochs=s.epochs,
        finetune_lr=s.finetune_lr,
    )


RECIPES: dict[str, Callable[[Splits, int, Settings], dict]] = {
    "scratch": scratch,
    "linear_probe": linear_probe,
    "linear_probe_random_init": linear_probe_random_init,
    "finetune": finetune,
    **{f"freeze_{n}": frozen(n) for n in range(1, 5)},
    "discriminative_lr": discriminative_lr,
    "high_lr": high_lr,
    "augment": augment,
    "l2sp": l2sp,
    "gradual_unfreeze": gradual_unfreeze,
    "lp_ft": lp_ft,
    "bitfit": bitfit,
    "lora": lora,
}


def run(
    method: str, target: str, *, k: int, seed: int, settings: Settings | None = None, **overrides
) -> dict:
    """One benchmark record: ``{"target", "method", "k", "seed", "accuracy", "seconds",
    "trainable_params", ...}``."""
    if method not in RECIPES:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(RECIPES)}")
    s = replace(settings or Settings(), **overrides)
    splits = data.load_target(target, k=k, seed=seed)
    start = time.perf_counter()
    result = RECIPES[method](splits, seed, s)
    seconds = time.perf_counter() - start
    return {
        "target": target,
        "method": method,
        "k": k,
        "seed": seed,
        "accuracy": round(result.pop("accuracy"), 4),
        "seconds": round(seconds, 2),
        **{key: v if isinstance(v, int) else round(v, 4) for key, v in result.items()},
    }
