"""augment: pipelines compared draw for draw from one seed; transform timing."""

import torch
from torchvision.transforms import v2

from ftkit import data
from ftkit.models import BackboneInfo
from ftkit.studies import augmentation

INFO = BackboneInfo("tiny", 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
IMAGE = torch.arange(3 * 16 * 16, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, 16, 16)


def test_written_out_pipeline_equals_train_transforms():
    by_hand = v2.Compose(
        [
            v2.RandomAffine(degrees=10, translate=(0.08, 0.08), scale=(0.9, 1.1)),
            v2.RandomCrop(16, padding=2),
            v2.RandomHorizontalFlip(p=0.5),
            v2.ColorJitter(0.3, 0.3, 0.3, 0.15),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(INFO.mean, INFO.std),
        ]
    )
    ftkit_version = data.train_transforms(
        INFO,
        rotation=10,
        scale=(0.9, 1.1),
        translate=0.08,
        crop_padding=2,
        hflip_prob=0.5,
        color_jitter=0.3,
    )
    assert augmentation.same_output(ftkit_version, by_hand, IMAGE)
    assert not augmentation.same_output(data.standard_augmentation(INFO), by_hand, IMAGE)


def test_same_output_never_raises_and_keeps_the_rng():
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    assert not augmentation.same_output(None, data.eval_transforms(INFO), IMAGE)
    assert not augmentation.same_output(lambda x: 1 / 0, data.eval_transforms(INFO), IMAGE)
    assert augmentation.same_output(data.eval_transforms(INFO), data.eval_transforms(INFO), IMAGE)
    assert torch.equal(torch.rand(1), expected)


def test_seconds_per_image_is_positive():
    assert augmentation.seconds_per_image(data.standard_augmentation(INFO), IMAGE, repeats=3) > 0
