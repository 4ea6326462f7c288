import json

import torch

from ftkit import glyphs, models
from ftkit.pretrain import PretrainConfig, pretrain


def test_short_pretraining_learns_and_writes_a_verifiable_checkpoint(tmp_path):
    """A shortened run of the real recipe: it must learn well above chance (1/86)."""
    cfg = PretrainConfig(steps=300, batch_size=64, warmup_steps=30, val_per_class=5)
    card = pretrain(cfg, tmp_path, progress=False)
    assert card["source_val_accuracy"] > 0.15, card  # chance is 0.012
    assert card["final_train_loss"] < 3.5
    model, config = models.load_checkpoint(tmp_path / models.CHECKPOINT_FILE)
    assert config["classes"] == list(glyphs.SOURCE_CHARS) and config["steps"] == 300
    assert json.loads((tmp_path / "embedded_resnet.json").read_text())["sha256"] == card["sha256"]
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 86)


def test_shipped_model_card_matches_the_checkpoint():
    card = json.loads((models.weights_dir() / "embedded_resnet.json").read_text())
    assert card["sha256"] == models.sha256_of(models.weights_dir() / models.CHECKPOINT_FILE)
    assert card["source_val_accuracy"] > 0.7
    assert (models.weights_dir() / "MODEL_CARD.md").read_text().count(card["sha256"]) == 1
