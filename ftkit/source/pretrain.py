"""The recipe that produced the embedded backbone: ``ftkit pretrain --out DIR`` runs it again.

Source task: classify 86 glyph classes (letters and symbols of 16 fonts, see
``ftkit.source.glyphs``),
drawn afresh for every batch from a seeded generator, so nothing is held in memory and no
image is ever repeated. SGD with Nesterov momentum and a cosine schedule, as for ImageNet.
"""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from ftkit import checks, outputs
from ftkit.inference import predictions
from ftkit.models import CHECKPOINT_FILE, SmallResNet, count_parameters, save_checkpoint
from ftkit.source import glyphs
from ftkit.source.glyphs import HELDOUT_CHARS

VAL_SEED = 10_001  # the source validation set: never drawn by the training stream's seed
CARD_JSON, CARD_MD = "embedded_resnet.json", "MODEL_CARD.md"
OUTPUT_FILES = (CHECKPOINT_FILE, CHECKPOINT_FILE + ".sha256", CARD_JSON, CARD_MD)


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines the checkpoint (with the code and the torch version)."""

    steps: int = 3000
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    warmup_steps: int = 100
    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    image_size: int = 32
    seed: int = 0
    val_per_class: int = 20


def source_statistics(image_size: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the source images: the backbone's input normalisation."""
    g = torch.Generator().manual_seed(seed + 7)
    images, _ = glyphs.glyph_batch(glyphs.SOURCE_CHARS, 4096, g, image_size=image_size)
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3))
    return [round(v, 4) for v in mean.tolist()], [round(v, 4) for v in std.tolist()]


def _lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + torch.cos(torch.tensor(progress * torch.pi)).item())


def source_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    mean: list[float],
    std: list[float],
) -> float:
    """Accuracy of ``model`` on uint8 source images, normalised as in pretraining."""
    m, s = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    x = (images.float() / 255 - m) / s  # (N, 3, S, S)
    batches = [(x[i : i + 512], labels[i : i + 512]) for i in range(0, len(x), 512)]
    preds, truth = predictions(model, batches)
    return (preds == truth).double().mean().item()


def check_config(cfg: PretrainConfig) -> None:
    """Every field in range, before a long run starts."""
    checks.whole_number("steps", cfg.steps, fix="e.g. steps=3000 (the shipped checkpoint).")
    checks.whole_number("batch_size", cfg.batch_size, fix="e.g. batch_size=128.")
    checks.learning_rate("lr", cfg.lr)
    checks.real_number("momentum", cfg.momentum, low=0, high=1, high_open=True)
    checks.non_negative("weight_decay", cfg.weight_decay)
    checks.real_number("label_smoothing", cfg.label_smoothing, low=0, high=1, high_open=True)
    checks.whole_number("warmup_steps", cfg.warmup_steps, minimum=0, maximum=cfg.steps)
    checks.whole_number("image_size", cfg.image_size, minimum=8, fix="e.g. image_size=32.")
    checks.seed_value("seed", cfg.seed)
    checks.whole_number("val_per_class", cfg.val_per_class)
    if not cfg.widths or len(cfg.widths) != len(cfg.blocks):
        raise checks.fail(
            "widths and blocks need one entry per stage",
            (cfg.widths, cfg.blocks),
            "e.g. widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1).",
        )
    for i, (w, b) in enumerate(zip(cfg.widths, cfg.blocks)):
        checks.whole_number(f"widths[{i}]", w)
        checks.whole_number(f"blocks[{i}]", b)


def check_output(out_dir: str | Path, *, force: bool = False) -> Path:
    """The output folder, writable, with none of the four files in it unless ``force``."""
    out_dir = outputs.writable_dir(out_dir)
    outputs.new_files([out_dir / name for name in OUTPUT_FILES], overwrite=force, flag="--force")
    return out_dir


def pretrain(
    cfg: PretrainConfig, out_dir: Path, *, progress: bool = True, force: bool = False
) -> dict:
    """Train the backbone on the glyph stream and write checkpoint, sha256 and model card.

    The configuration and the output folder are checked before training; the four files are
    made in a staging folder and then each renamed into place, and existing ones are kept
    unless ``force=True``.
    """
    check_config(cfg)
    out_dir = check_output(out_dir, force=force)
    torch.manual_seed(cfg.seed)
    chars = glyphs.SOURCE_CHARS
    mean, std = source_statistics(cfg.image_size, cfg.seed)
    model = SmallResNet(len(chars), cfg.widths, cfg.blocks)
    start = time.perf_counter()
    running = _train(model, cfg, mean, std, progress=progress)
    seconds = time.perf_counter() - start
    val_images, val_labels = glyphs.glyph_set(
        chars, cfg.val_per_class, VAL_SEED, image_size=cfg.image_size
    )
    accuracy = source_accuracy(model, val_images, val_labels, mean, std)
    config = {
        **asdict(cfg),
        "widths": list(cfg.widths),
        "blocks": list(cfg.blocks),
        "classes": list(chars),
        "mean": mean,
        "std": std,
    }
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=".pretrain-"))
    try:
        digest = save_checkpoint(model, config, staging / CHECKPOINT_FILE)
        card = _card(model, cfg, config, seconds, accuracy, running, digest)
        (staging / CARD_JSON).write_text(json.dumps(card, indent=1, ensure_ascii=False))
        (staging / CARD_MD).write_text(model_card(card))
        check_output(out_dir, force=force)  # nothing appeared there while training
        for name in OUTPUT_FILES:  # each file appears complete, in one rename
            outputs.place(staging / name, out_dir / name, overwrite=force, flag="--force")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def _train(
    model: nn.Module, cfg: PretrainConfig, mean: list[float], std: list[float], *, progress: bool
) -> float:
    """``cfg.steps`` SGD steps on fresh glyph batches; returns the smoothed final loss."""
    chars = glyphs.SOURCE_CHARS
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]  # biases and batch-norm
    opt = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    g = torch.Generator().manual_seed(cfg.seed)
    m, s = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    running = 0.0
    bar = tqdm(range(cfg.steps), desc="pretraining", disable=not progress, mininterval=5)
    model.train()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        images, labels = glyphs.glyph_batch(chars, cfg.batch_size, g, image_size=cfg.image_size)
        loss = loss_fn(model((images - m) / s), labels)  # images: (B, 3, S, S)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        bar.set_postfix(loss=f"{running:.3f}", refresh=False)
    return running


def _card(
    model: nn.Module,
    cfg: PretrainConfig,
    config: dict,
    seconds: float,
    accuracy: float,
    running: float,
    digest: str,
) -> dict:
    """The JSON record written beside the weights (the model card is rendered from it)."""
    return {
        "classes": len(config["classes"]),
        "fonts": len(glyphs.FONT_FILES),
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "images_seen": cfg.steps * cfg.batch_size,
        "resolution": cfg.image_size,
        "parameters": count_parameters(model),
        "wall_seconds": round(seconds, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "source_val_accuracy": round(accuracy, 4),
        "final_train_loss": round(running, 4),
        "sha256": digest,
        "config": config,
    }


def model_card(card: dict) -> str:
    """The human-readable model card, rendered from the JSON record written beside the weights."""
    cfg = card["config"]
    return f"""# Model card: ftkit's embedded backbone

- **Architecture**: ResNet with torchvision's anatomy (`conv1, bn1, layer1..layer4, avgpool, fc`),
  widths {cfg["widths"]}, BasicBlocks per stage {cfg["blocks"]}, 3x3 stride-1 stem, no max-pool;
  {card["parameters"]:,} parameters.
- **Source task**: {card["classes"]} glyph classes (Latin, Greek and Cyrillic letters and symbols;
  no digits) rendered from {card["fonts"]} fonts that ship with matplotlib, randomly warped,
  recoloured and put on plain, gradient or blotchy backgrounds (`ftkit.source.glyphs`). Ten further
  classes (`{"".join(HELDOUT_CHARS)}`) are held out as the near-transfer target.
- **Resolution**: {card["resolution"]}x{card["resolution"]} RGB, normalised with mean {cfg["mean"]}
  and std {cfg["std"]}.
- **Training**: {card["steps"]} steps of batch {card["batch_size"]} ({card["images_seen"]:,} images,
  each drawn once), SGD with Nesterov momentum {cfg["momentum"]}, LR {cfg["lr"]} with
  {cfg["warmup_steps"]} warm-up steps then cosine, weight decay {cfg["weight_decay"]} (not on
  norms and biases), label smoothing {cfg["label_smoothing"]}, seed {cfg["seed"]}.
- **Wall time**: {card["wall_seconds"]} s on {card["threads"]} CPU thread(s), torch {card["torch"]}.
- **Source validation accuracy**: {card["source_val_accuracy"]:.1%} on {cfg["val_per_class"]}
  fresh images per class (chance {1 / card["classes"]:.1%}).
- **sha256**: `{card["sha256"]}`
- **Reproduce**: `ftkit pretrain --out DIR --steps {card["steps"]} --seed {cfg["seed"]}`
  (bit-identical on the same machine and torch version; close elsewhere).
- **Intended use**: teaching fine-tuning offline. Not a general-purpose image model.
"""
