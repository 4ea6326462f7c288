import pytest
import torch

from ftkit import data, models


@pytest.fixture(scope="module")
def info():
    return models.load_backbone("embedded")[1]


@pytest.mark.parametrize("target", ["digits", "near", "shift"])
def test_few_shot_splits_are_stratified_seeded_and_disjoint(target):
    a = data.load_target(target, k=5, seed=0)
    b = data.load_target(target, k=5, seed=0)
    c = data.load_target(target, k=5, seed=1)
    n_classes = len(a.classes)
    assert torch.bincount(a.train.labels).tolist() == [5] * n_classes
    assert torch.bincount(a.val.labels).tolist() == [data.VAL_PER_CLASS] * n_classes
    assert torch.bincount(a.test.labels).tolist() == [data.TEST_PER_CLASS] * n_classes
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)
    assert torch.equal(a.test.images, c.test.images)  # the test set never depends on the seed

    def rows(ds):
        return {tuple(x.flatten().tolist()) for x in ds.images}

    assert not rows(a.train) & rows(a.test) and not rows(a.val) & rows(a.test)


def test_digits_are_real_scans_at_glyph_scale():
    pool = data.digits_pool()
    assert len(pool) == 1797 and pool.images.shape[1:] == (3, 32, 32)
    assert pool.images[:, :, :4, :].max() == 0  # a border, like the glyphs' margin
    assert pool.classes == [str(d) for d in range(10)]


def test_k_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="k must be .* at most .*got 500. Fix: this pool"):
        data.load_target("digits", k=500)
    with pytest.raises(ValueError, match="unknown target"):
        data.load_target("imagenet", k=5)


def test_transforms_normalise_with_backbone_statistics(info):
    splits = data.load_target("digits", k=5)
    x = data.eval_transforms(info)(splits.train.images[0])
    expected = (
        splits.train.images[0].float() / 255 - torch.tensor(info.mean)[:, None, None]
    ) / torch.tensor(info.std)[:, None, None]
    assert torch.allclose(x, expected, atol=1e-5)
    torch.manual_seed(0)
    aug = data.standard_augmentation(info)
    assert not torch.allclose(aug(splits.train.images[0]), x)


def test_loaders_shuffle_by_seed_and_keep_eval_order(info):
    splits = data.load_target("digits", k=5)
    first = [y.tolist() for _, y in data.make_loaders(splits, info, batch_size=10, seed=3)[0]]
    again = [y.tolist() for _, y in data.make_loaders(splits, info, batch_size=10, seed=3)[0]]
    other = [y.tolist() for _, y in data.make_loaders(splits, info, batch_size=10, seed=4)[0]]
    assert first == again and first != other
    _, val_loader, _ = data.make_loaders(splits, info)
    assert torch.cat([y for _, y in val_loader]).tolist() == splits.val.labels.tolist()


def test_source_eval_set_covers_the_source_classes(info):
    source = data.source_eval_set(per_class=2)
    assert source.classes == list(info.source_classes)
    assert torch.bincount(source.labels).tolist() == [2] * 86


def test_pretrained_backbone_recognises_the_source_task(info):
    model, _ = models.load_backbone("embedded")
    from ftkit.source.pretrain import source_accuracy

    source = data.source_eval_set(per_class=5)
    accuracy = source_accuracy(model, source.images, source.labels, list(info.mean), list(info.std))
    assert accuracy > 0.6  # chance is 1/86
