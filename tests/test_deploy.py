"""deploy: exports compute the same logits, weights round-trip through a checksum, and
predict applies exactly the folder loader's preprocessing."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from train_fixtures import eval_resnet_with_bn_stats

from ftkit import data, deploy, folders, models
from ftkit.models import BackboneInfo
from ftkit.studies import own_data

INFO = BackboneInfo("tiny", 16, (0.5, 0.4, 0.3), (0.25, 0.2, 0.3))
CLASSES = ["a", "b", "c"]


@pytest.fixture
def model():
    return eval_resnet_with_bn_stats(3)


@pytest.fixture
def loader():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 3, 16, 16, generator=g)
    return DataLoader(TensorDataset(x, torch.arange(10) % 3), batch_size=4)


@pytest.fixture
def folder(tmp_path):
    """Three classes, three images each, of different sizes and modes (L, RGBA, RGB)."""
    rng = np.random.default_rng(0)
    for c, mode in zip(CLASSES, ("L", "RGBA", "RGB")):
        (tmp_path / c).mkdir()
        for i in range(3):
            channels = {"L": 1, "RGBA": 4, "RGB": 3}[mode]
            pixels = rng.integers(0, 256, (20 + 3 * i, 24, channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(
                tmp_path / c / f"{i}.png"
            )
    return tmp_path


def test_torch_export_round_trip_gives_the_same_logits(model, loader, tmp_path):
    path = deploy.export_program(model, torch.randn(2, 3, 16, 16), tmp_path / "m.pt2")
    result = deploy.compare(model, deploy.load_program(path), loader)
    assert result["max_abs_diff"] < 1e-5 and result["same_argmax"] and result["images"] == 10


def test_onnx_export_is_valid_and_gives_the_same_logits(model, loader, tmp_path):
    path = deploy.export_onnx(model, torch.randn(2, 3, 16, 16), tmp_path / "m.onnx")
    run = deploy.onnx_runner(path)
    assert run(torch.randn(5, 3, 16, 16)).shape == (5, 3)  # dynamic batch
    result = deploy.compare(model, run, loader)
    assert result["max_abs_diff"] < 1e-4 and result["same_argmax"]
    assert deploy.onnx_runtime_name() in ("onnxruntime", "onnx.reference")


def test_compare_detects_a_different_model(model, loader):
    other = models.SmallResNet(3, widths=(4, 8, 8, 8)).eval()
    result = deploy.compare(model, other, loader)
    assert result["max_abs_diff"] > 1e-3


def test_weights_round_trip_and_tampering_is_refused(model, tmp_path):
    path = tmp_path / "w.pt"
    digest = deploy.save_weights(model, path, classes=CLASSES, info=INFO)
    assert (tmp_path / "w.pt.sha256").read_text().split()[0] == digest == models.sha256_of(path)
    saved = deploy.load_weights(path)
    assert saved["classes"] == CLASSES and deploy.info_from(saved) == INFO
    for name, tensor in model.state_dict().items():
        assert torch.equal(saved["state_dict"][name], tensor)
    assert "state_dict" not in deploy.describe(saved)
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(models.ChecksumError, match="changed since it was saved"):
        deploy.load_weights(path)


def test_preprocess_matches_the_folder_loader(folder):
    splits = folders.image_folder_splits(
        folder, image_size=INFO.image_size, val_fraction=0.34, test_fraction=0.34
    )
    transform = data.eval_transforms(INFO)
    loaded = torch.cat([splits.train.images, splits.val.images, splits.test.images])
    expected = torch.stack([transform(im) for im in loaded])  # (9, 3, 16, 16)
    mine = torch.cat([deploy.preprocess(p, INFO) for p in sorted(folder.rglob("*.png"))])
    # the same set of images (splits reorder them): match each file to a loaded image
    distances = torch.cdist(mine.flatten(1), expected.flatten(1))
    assert distances.min(dim=1).values.max() < 1e-5
    assert mine.shape == (9, 3, 16, 16)


def test_predict_on_a_saved_png(model, folder):
    path = folder / "b" / "0.png"  # an RGBA file
    label, probability = deploy.predict(model, path, info=INFO, classes=CLASSES)
    logits = model(deploy.preprocess(path, INFO))
    assert label == CLASSES[int(logits.argmax())]
    assert probability == pytest.approx(torch.softmax(logits, 1).max().item())
    model.train()
    deploy.predict(model, path, info=INFO, classes=CLASSES)
    assert model.training  # the mode is restored


def test_probabilities_and_prediction_figure(model, loader):
    probs, _ = deploy.probabilities(model, loader)
    assert probs.shape == (10, 3) and torch.allclose(probs.sum(1), torch.ones(10))
    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    fig = own_data.prediction_figure(image, torch.tensor([0.1, 0.7, 0.2]), CLASSES, true="c")
    assert isinstance(fig, Figure)
    title = fig.axes[0].get_title()
    assert "predicted b" in title and "true c" in title
    bars = fig.axes[1].patches
    assert [round(b.get_width(), 2) for b in bars] == [0.1, 0.2, 0.7]  # largest at the top
