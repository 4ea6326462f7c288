"""frozen_prefix: training on the cached outputs of a frozen prefix equals training through it."""

import pytest

from ftkit import evaluation, frozen_prefix


def _tiny_squeezenet(seed=0):
    import torch
    from torchvision.models import squeezenet1_1

    from ftkit import models

    torch.manual_seed(seed)
    return models.replace_head(squeezenet1_1(weights=None), 3, seed=seed)


def test_training_on_a_cached_frozen_prefix_equals_training_through_it():
    import torch

    from ftkit import data, freezing, models, training
    from ftkit.data import Splits, TensorImageDataset

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 3, 48, 48), dtype=torch.uint8, generator=g)
    pool = TensorImageDataset(images, torch.arange(30) % 3, ["a", "b", "c"])
    splits = Splits(
        pool.subset(range(12)), pool.subset(range(12, 21)), pool.subset(range(21, 30)), pool.classes
    )
    info = models.BackboneInfo("tiny", 48, (0.5,) * 3, (0.25,) * 3)
    finals = []
    for cached in (False, True):
        model = _tiny_squeezenet()
        freezing.freeze_to(model, 3)
        train_loader, val_loader, test_loader = data.make_loaders(
            splits, info, batch_size=4, seed=1
        )
        net = model
        if cached:
            prefix, net = frozen_prefix.split(model, 3, next(iter(val_loader))[0][:2])
            acts = [
                frozen_prefix.cache(prefix, ld) for ld in (train_loader, val_loader, test_loader)
            ]
            train_loader, val_loader, test_loader = frozen_prefix.loaders(
                *acts, batch_size=4, seed=1
            )
        training.fit(net, train_loader, None, epochs=2, lr=0.002, seed=1)
        finals.append([p.detach().clone() for p in net.parameters() if p.requires_grad])
        finals[-1].append(evaluation.accuracy(net, test_loader))
    plain, cached = finals
    assert len(plain) == len(cached) and len(plain) > 10
    for a, b in zip(plain[:-1], cached[:-1]):
        assert torch.allclose(a, b, atol=1e-5)
    assert plain[-1] == pytest.approx(cached[-1])


def test_frozen_prefix_split_refuses_a_model_with_glue_between_groups():
    import torch

    from ftkit import models

    resnet = models.SmallResNet(10, widths=(4, 8, 8, 8))
    with pytest.raises(ValueError, match="not its layer groups applied in order"):
        frozen_prefix.split(resnet, 2, torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match="between 1 and 5"):
        frozen_prefix.split(_tiny_squeezenet(), 0, torch.randn(2, 3, 48, 48))
