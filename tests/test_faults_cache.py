"""The feature cache never returns stale features: one row per thing that changes a feature
(a transform's behaviour, a pooling layer, a head at ``layer="fc"``, an image edited in place),
random transforms refused by name, and corrupt or edited entries computed again."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from ftkit import features, folders
from ftkit.data import TensorImageDataset
from ftkit.fingerprints import UncacheableError
from ftkit.models import SmallResNet

FLOAT = v2.ToDtype(torch.float32, scale=True)


def dataset(transform=FLOAT, seed: int = 0) -> TensorImageDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (12, 3, 16, 16), generator=g, dtype=torch.uint8)  # layer4: 2x2
    return TensorImageDataset(images, torch.arange(12) % 3, ["a", "b", "c"], transform)


def backbone() -> SmallResNet:
    torch.manual_seed(0)
    return SmallResNet(3, widths=(4, 8, 8, 8))


def twice(first, second, layer="avgpool"):
    """Features of two (model, dataset) setups through one cache; the cache's counters."""
    cache = features.FeatureCache()
    a = cache.features(first[0], DataLoader(first[1], batch_size=5), layer=layer)[0]
    b = cache.features(second[0], DataLoader(second[1], batch_size=5), layer=layer)[0]
    return a, b, cache


def _lambda_2():
    return v2.Compose([FLOAT, v2.Lambda(lambda x: x * 2)])


def _lambda_3():
    return v2.Compose([FLOAT, v2.Lambda(lambda x: x * 3)])


def _max_pool(model):
    model.avgpool = nn.AdaptiveMaxPool2d(1)
    return model


def _new_head(model):
    model.fc = nn.Linear(8, 3)
    return model


def _edit_pixels(ds):
    ds.images[0, 0, 0, 0] ^= 0xFF  # one pixel, in place
    return ds


STALE_CASES = [
    # (id, make the second setup from the first, layer, must the entry change?)
    ("two different v2.Lambda", lambda m, d: (m, d.with_transform(_lambda_3())), "avgpool", True),
    ("a pooling layer replaced", lambda m, d: (_max_pool(m), d), "avgpool", True),
    ("a head replaced, layer fc", lambda m, d: (_new_head(m), d), "fc", True),
    ("a head replaced, avgpool", lambda m, d: (_new_head(m), d), "avgpool", False),
    ("an image edited in place", lambda m, d: (m, _edit_pixels(d)), "avgpool", True),
    ("batch-norm statistics moved", lambda m, d: (_bn(m), d), "layer1", True),
    ("the same Lambda, rebuilt", lambda m, d: (m, d.with_transform(_lambda_2())), "avgpool", False),
    ("a layer after the cut changed", lambda m, d: (_conv4(m), d), "layer2", False),
]


def _bn(model):
    model.layer1[0].bn1.running_mean += 0.5
    return model


def _conv4(model):
    with torch.no_grad():
        model.layer4[0].conv1.weight.mul_(3)
    return model


@pytest.mark.parametrize(
    "change, layer, changes", [c[1:] for c in STALE_CASES], ids=[c[0] for c in STALE_CASES]
)
def test_the_key_follows_everything_that_changes_the_features(change, layer, changes):
    model, data = backbone(), dataset(_lambda_2())
    cache = features.FeatureCache()
    first = cache.features(model, DataLoader(data, batch_size=5), layer=layer)[0].clone()
    model2, data2 = change(model, data)
    second = cache.features(model2, DataLoader(data2, batch_size=5), layer=layer)[0]
    fresh = features.extract_features(model2, DataLoader(data2, batch_size=5), layer=layer)[0]
    assert torch.allclose(second, fresh, atol=1e-6)  # never stale, whatever the case
    assert (cache.misses, cache.hits) == ((2, 0) if changes else (1, 1))
    assert torch.equal(first, second) is not changes


def test_an_image_file_edited_in_place_is_a_new_entry(tmp_path):
    for c, name in enumerate(("cat", "dog")):
        for i in range(3):
            rng = np.random.default_rng(10 * c + i)
            pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            (tmp_path / name).mkdir(exist_ok=True)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    folder = folders.open_image_folder(tmp_path)
    folder.transform = v2.Compose([v2.PILToTensor(), FLOAT])
    model, cache = backbone(), features.FeatureCache()
    before = cache.features(model, DataLoader(folder))[0].clone()
    Image.new("RGB", (8, 8), (255, 0, 255)).save(tmp_path / "cat" / "0.png")  # same path
    after = cache.features(model, DataLoader(folder))[0]
    assert cache.misses == 2 and not torch.equal(before[0], after[0])
    assert torch.equal(before[1:], after[1:])


@pytest.mark.parametrize(
    "transform, words",
    [
        (v2.Compose([FLOAT, v2.RandomHorizontalFlip()]), ["RandomHorizontalFlip", "random"]),
        (v2.Compose([FLOAT, v2.ColorJitter(0.3)]), ["ColorJitter"]),
        (v2.Compose([FLOAT, v2.Lambda(lambda x: x + torch.rand(()))]), ["Lambda", "random"]),
        (lambda x: FLOAT(x) + np.random.rand(), ["function", "random"]),
    ],
    ids=["RandomHorizontalFlip", "ColorJitter", "random Lambda", "numpy-random function"],
)
def test_random_transforms_are_refused_by_name(transform, words):
    with pytest.raises(UncacheableError) as err:
        features.FeatureCache().features(backbone(), DataLoader(dataset(transform)))
    for word in words + ["freeze one random draw", "got", "Fix:", "eval_transforms"]:
        assert word in str(err.value), str(err.value)


def _corrupt_truncate(path):
    path.write_bytes(path.read_bytes()[:100])


def _corrupt_garbage(path):
    path.write_bytes(b"not a torch file")


def _corrupt_values(path):
    blob = torch.load(path, weights_only=True)
    blob["features"][0, 0] += 1.0  # a silent change: only the checksum can see it
    torch.save(blob, path)


def _corrupt_rows(path):
    blob = torch.load(path, weights_only=True)
    blob["features"], blob["labels"] = blob["features"][:3], blob["labels"][:3]
    torch.save(blob, path)


@pytest.mark.parametrize(
    "corrupt, words",
    [
        (_corrupt_truncate, ["cannot be read"]),
        (_corrupt_garbage, ["cannot be read"]),
        (_corrupt_values, ["checksum does not match"]),
        (_corrupt_rows, ["holds 3 rows for 12 images"]),
    ],
    ids=["truncated", "garbage", "values changed", "rows missing"],
)
def test_a_corrupt_disk_entry_is_detected_and_rebuilt(tmp_path, corrupt, words):
    model, data = backbone(), dataset()
    good, labels = features.FeatureCache(tmp_path).features(model, DataLoader(data))
    (entry,) = tmp_path.glob("*.pt")
    corrupt(entry)
    fresh = features.FeatureCache(tmp_path)
    with pytest.warns(UserWarning) as record:
        again, again_labels = fresh.features(model, DataLoader(data))
    message = " ".join(str(r.message) for r in record)
    for word in [*words, "is corrupt", "computing the features again"]:
        assert word in message, message
    assert fresh.misses == 1 and torch.equal(again, good) and torch.equal(again_labels, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reread = features.FeatureCache(tmp_path)
        reread.features(model, DataLoader(data))  # the rewritten entry is sound
    assert reread.hits == 1


def test_features_edited_in_place_are_not_served_again():
    model, loader, cache = backbone(), DataLoader(dataset()), features.FeatureCache()
    feats, _ = cache.features(model, loader)
    reference = feats.clone()
    feats -= feats.mean(0)  # a learner standardising in place
    with pytest.warns(UserWarning, match="changed in place"):
        again, _ = cache.features(model, loader)
    assert torch.equal(again, reference)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda tmp: features.FeatureCache(tmp / "file.txt"), ["a file is in the way"]),
        (
            lambda tmp: features.FeatureCache().features(
                backbone(), DataLoader(dataset().subset([]))
            ),
            ["yielded no batch"],
        ),
        (
            lambda tmp: features.FeatureCache().features(
                backbone(), DataLoader(dataset()), layer="layer9"
            ),
            ["unknown layer"],
        ),
    ],
    ids=["directory is a file", "empty dataset", "unknown layer"],
)
def test_cache_misuse_gets_a_clear_error(tmp_path, make, words):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError) as err:
        make(tmp_path)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_a_deterministic_function_transform_is_cached_by_its_behaviour():
    scale = lambda x: FLOAT(x) * 0.5  # noqa: E731 - a plain function, not a torchvision class
    a, b, cache = twice(
        (backbone(), dataset(scale)), (backbone(), dataset(lambda x: FLOAT(x) * 0.5))
    )
    assert (cache.misses, cache.hits) == (1, 1) and torch.equal(a, b)
