"""features: extraction per layer, the cache (memory and disk), and the linear probe."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from ftkit import features as fx
from ftkit.data import TensorImageDataset
from ftkit.models import SmallResNet


def tiny_dataset(per_class: int = 12, classes: int = 3, seed: int = 0) -> TensorImageDataset:
    """Class c has a bright channel c: learnable from random-network features."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = torch.randint(0, 90, (len(labels), 3, 8, 8), generator=g)
    images[torch.arange(len(labels)), labels % 3] += 150
    to_float = v2.ToDtype(torch.float32, scale=True)
    return TensorImageDataset(
        images.to(torch.uint8), labels, [str(c) for c in range(classes)], to_float
    )


def tiny_backbone(seed: int = 0) -> SmallResNet:
    torch.manual_seed(seed)
    return SmallResNet(3, widths=(4, 8, 8, 8))


def count_forwards(model: nn.Module) -> list[int]:
    """Images the backbone has been run on (the cache traces one image per call to key it)."""
    seen = [0]
    model.register_forward_pre_hook(lambda _, args: seen.__setitem__(0, seen[0] + len(args[0])))
    return seen


TRACE = 1  # images per FeatureCache.features call spent on keying (the path to the layer)


@pytest.mark.parametrize(
    "layer, width", [("stem", 4), ("layer1", 4), ("layer2", 8), ("layer4", 8), ("avgpool", 8)]
)
def test_extract_features_shapes_per_layer(layer, width):
    model = tiny_backbone()
    loader = DataLoader(tiny_dataset(), batch_size=10)
    feats, labels = fx.extract_features(model, loader, layer=layer)
    assert feats.shape == (36, width) and feats.dtype == torch.float32
    assert torch.equal(labels, tiny_dataset().labels)


def test_avgpool_features_are_what_the_head_sees_and_modes_restore():
    model = tiny_backbone().train()
    images = torch.stack([tiny_dataset()[i][0] for i in range(36)])
    feats, _ = fx.extract_features(model, DataLoader(tiny_dataset(), batch_size=36))
    model.eval()
    with torch.no_grad():
        logits = model(images)
    model.train()
    assert torch.allclose(model.fc(feats), logits, atol=1e-5)
    assert model.training  # restored after extraction
    assert not feats.requires_grad


def test_intermediate_layer_is_global_average_pooled_stage_output():
    model = tiny_backbone().eval()
    images = torch.stack([tiny_dataset()[i][0] for i in range(36)])
    with torch.no_grad():
        stem = model.relu(model.bn1(model.conv1(images)))
        expected = model.layer2(model.layer1(stem)).mean(dim=(2, 3))
    feats, _ = fx.extract_features(model, DataLoader(tiny_dataset(), batch_size=7), layer="layer2")
    assert torch.allclose(feats, expected, atol=1e-5)


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown layer"):
        fx.extract_features(tiny_backbone(), DataLoader(tiny_dataset()), layer="layer9")


def test_cache_computes_once_and_returns_the_same_tensors():
    model = tiny_backbone()
    calls = count_forwards(model)
    loader = DataLoader(tiny_dataset(), batch_size=12, shuffle=True)
    cache = fx.FeatureCache()
    first = cache.features(model, loader)
    assert calls[0] == 36 + TRACE and cache.misses == 1
    second = cache.features(model, loader)
    assert calls[0] == 36 + 2 * TRACE and cache.hits == 1
    assert second[0] is first[0] and second[1] is first[1]
    # in index order although the loader shuffles
    assert torch.equal(first[1], tiny_dataset().labels)
    # another layer is another entry; a new head keeps the entry (features precede the head)
    cache.features(model, loader, layer="layer1")
    assert cache.misses == 2
    model.fc = nn.Linear(8, 5)
    assert cache.features(model, loader)[0] is first[0]


def test_cache_key_follows_images_labels_and_transform():
    model, cache = tiny_backbone(), fx.FeatureCache()
    base = tiny_dataset()
    cache.features(model, DataLoader(base))
    cache.features(model, DataLoader(tiny_dataset(seed=1)))  # other images
    relabelled = TensorImageDataset(base.images, base.labels.flip(0), base.classes, base.transform)
    cache.features(model, DataLoader(relabelled))
    cache.features(model, DataLoader(base.with_transform(v2.ToDtype(torch.float32, scale=False))))
    assert cache.misses == 4 and cache.hits == 0


def test_disk_cache_round_trips_and_is_invalidated_by_new_weights(tmp_path):
    model = tiny_backbone()
    calls = count_forwards(model)
    loader = DataLoader(tiny_dataset(), batch_size=36)
    feats, labels = fx.FeatureCache(tmp_path).features(model, loader)
    assert len(list(tmp_path.glob("*.pt"))) == 1 and calls[0] == 36 + TRACE
    fresh = fx.FeatureCache(tmp_path)  # a new session: nothing in memory
    again, again_labels = fresh.features(model, loader)
    assert calls[0] == 36 + 2 * TRACE and fresh.hits == 1
    assert torch.equal(again, feats) and torch.equal(again_labels, labels)
    with torch.no_grad():
        model.layer1[0].conv1.weight.mul_(2)
    changed, _ = fresh.features(model, loader)
    assert calls[0] == 2 * 36 + 3 * TRACE and fresh.misses == 1
    assert not torch.allclose(changed, feats)
    assert len(list(tmp_path.glob("*.pt"))) == 2


def test_weights_checksum_sees_batchnorm_statistics():
    model = tiny_backbone()
    before = fx.weights_checksum(model)
    model.bn1.running_mean += 1
    assert fx.weights_checksum(model) != before


def test_probe_learns_is_deterministic_and_folds_standardisation():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(30)
    feats = torch.randn(90, 6, generator=g) * 5 + 100  # badly scaled: standardising matters
    feats[torch.arange(90), labels] += 25
    head, history = fx.train_linear_probe(feats, labels, feats, labels, num_classes=3, epochs=60)
    again, _ = fx.train_linear_probe(feats, labels, feats, labels, num_classes=3, epochs=60)
    assert torch.equal(head.weight, again.weight)
    assert len(history.train_loss) == 60 and history.epoch[-1] == 60
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert fx.probe_accuracy(head, feats, labels) == pytest.approx(history.val_acc[-1])
    assert fx.probe_accuracy(head, feats, labels) > 0.95  # the head takes raw features


def test_probe_minibatches_follow_the_seed():
    labels = torch.arange(2).repeat(20)
    feats = torch.randn(40, 4, generator=torch.Generator().manual_seed(1)) + labels[:, None]
    a, _ = fx.train_linear_probe(feats, labels, num_classes=2, epochs=3, batch_size=8, seed=0)
    b, _ = fx.train_linear_probe(feats, labels, num_classes=2, epochs=3, batch_size=8, seed=0)
    c, _ = fx.train_linear_probe(feats, labels, num_classes=2, epochs=3, batch_size=8, seed=1)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def test_cached_and_recomputed_probes_agree_and_differ_only_in_backbone_work():
    model = tiny_backbone()
    train = DataLoader(tiny_dataset(per_class=20), batch_size=32, shuffle=True)
    val = DataLoader(tiny_dataset(seed=1), batch_size=64)
    kwargs = {"num_classes": 3, "epochs": 8, "batch_size": 16, "seed": 0}
    calls = count_forwards(model)
    cached, hist_cached = fx.linear_probe(model, train, val, **kwargs)
    cached_calls = calls[0]
    recomputed, hist_recomputed = fx.linear_probe_recompute(model, train, val, **kwargs)
    assert cached_calls == 60 + 36 + 2 * TRACE  # train and val images, once
    assert calls[0] - cached_calls == 8 * (60 + 36)  # every epoch, train and val
    assert abs(hist_cached.val_acc[-1] - hist_recomputed.val_acc[-1]) <= 0.01
    assert hist_cached.val_acc[-1] > 0.8
    assert torch.allclose(cached.weight, recomputed.weight, atol=1e-4)  # same optimisation
