"""The GPU path: ``fit``, feature extraction, the LR range test, probes and export on CUDA.

These run wherever a CUDA device is present (a developer's GPU, Colab's GPU runtime) and skip
elsewhere: CI is CPU-only. The device is chosen once and the model moved once; ``fit`` must not
synchronise with the host once per batch (counted with CUDA's sync debug mode).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from train_fixtures import image_loaders, images, loader, tiny_resnet

from ftkit import deploy, features, lr_finder, training

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here (CI is CPU-only)"
)


def test_fit_trains_on_the_gpu_and_leaves_the_model_there():
    model = tiny_resnet()
    train, val = image_loaders()
    history = training.fit(model, train, val, epochs=3, lr=0.05, device="cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert history.train_loss[-1] < history.train_loss[0]


def _sync_warnings(batch_size: int) -> int:
    model = tiny_resnet().cuda()
    train = loader(*images(n_per_class=16), batch_size=batch_size)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            training.fit(model, train, None, epochs=1, lr=0.01, device="cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in seen)


def test_fit_does_not_synchronise_once_per_batch():
    few, many = _sync_warnings(batch_size=24), _sync_warnings(batch_size=4)  # 2 vs 12 batches
    assert many <= few + 2, (few, many)


def test_features_on_the_gpu_match_the_cpu():
    model = tiny_resnet()
    train, _ = image_loaders()
    cpu = features.extract_features(model, train)
    gpu = features.extract_features(model.cuda(), train)
    assert gpu[0].device.type == "cpu"  # features come back to the host once, for caching
    torch.testing.assert_close(gpu[0], cpu[0], atol=1e-4, rtol=1e-4)


def test_lr_range_test_and_probe_run_on_the_gpu():
    model = tiny_resnet().cuda()
    train, val = image_loaders()
    result = lr_finder.lr_range_test(model, train, num_steps=20, device="cuda")
    assert len(result.lrs) > 5 and all(torch.isfinite(torch.tensor(result.losses[:5])))
    head, _ = features.linear_probe(model, train, val, num_classes=3, epochs=5, device="cuda")
    assert head is not None


def test_export_of_a_gpu_model_gives_the_same_logits(tmp_path):
    model = tiny_resnet().cuda().eval()
    example = images(n_per_class=1)[0].cuda()
    program = deploy.load_program(deploy.export_program(model, example, tmp_path / "m.pt2"))
    torch.testing.assert_close(program(example), model(example), atol=1e-5, rtol=1e-5)
