"""augment: pipelines compared draw for draw from one seed; transform timing."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

from ftkit import data, evaluation, models, protocol, training
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


# --- budgets chosen on validation ------------------------------------------------------------


def _tiny_setup(seed: int):
    """A tiny ResNet on 20 random 8x8 images, 4 per batch (5 steps per epoch)."""
    g = torch.Generator().manual_seed(100 + seed)
    x, y = torch.randn(20, 3, 8, 8, generator=g), torch.arange(20) % 2
    torch.manual_seed(seed)
    model = models.SmallResNet(2, widths=(4, 4, 4, 4))
    train = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True, generator=g)
    evaluate = DataLoader(TensorDataset(x, y), batch_size=20)
    return model, train, evaluate, evaluate


def test_staged_fit_looks_after_each_budget_and_keeps_copies():
    model, train, val, _ = _tiny_setup(0)
    looks = augmentation.staged_fit(model, train, val, budgets=(5, 15), lr=0.05, seed=0)
    assert list(looks) == [5, 15]
    (acc5, w5), (acc15, w15) = looks[5], looks[15]
    assert 0 <= acc5 <= 1 and 0 <= acc15 <= 1
    assert any(not torch.equal(w5[k], w15[k]) for k in w5)  # copies, not the live weights
    assert all(torch.equal(w15[k], v) for k, v in model.state_dict().items())


def test_staged_fit_with_one_budget_is_fit():
    model, train, val, _ = _tiny_setup(0)
    augmentation.staged_fit(model, train, val, budgets=(10,), lr=0.05, seed=3)
    twin, train, _, _ = _tiny_setup(0)
    training.fit(twin, train, epochs=2, lr=0.05, seed=3)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        assert torch.allclose(a.float(), b.float()), name


def test_staged_fit_refuses_budgets_that_are_not_whole_epochs():
    model, train, val, _ = _tiny_setup(0)
    with pytest.raises(ValueError, match="multiples of the 5 steps per epoch"):
        augmentation.staged_fit(model, train, val, budgets=(5, 12), lr=0.05, seed=0)


def test_compare_budgets_chooses_on_validation_and_tests_only_the_choice():
    kept: dict[str, nn.Module] = {}
    result = augmentation.compare_budgets(
        {"a": _tiny_setup, "b": _tiny_setup}, seeds=(0, 1, 2), budgets=(5, 10, 20), lr=0.05,
        keep=kept,
    )  # fmt: skip
    assert set(result.chosen) == {"a", "b"} and len(result.trials) == 2 * 3 * 3
    for method in ("a", "b"):
        mean_val = {
            b: sum(t.scores["val"] for t in result.trials
                   if t.method == method and t.params["steps"] == b) / 3
            for b in (5, 10, 20)
        }  # fmt: skip
        assert mean_val[result.chosen[method]["steps"]] == max(mean_val.values())
        for t in result.trials:
            if t.method == method:
                assert ("test" in t.scores) == (t.params == result.chosen[method])
    # the kept model is seed 0's at its chosen budget: its accuracy is the recorded test score
    _, _, _, test = _tiny_setup(0)
    assert evaluation.accuracy(kept["a"], test) == result.scores("a")[0]
    assert result.difference("a", "b").mean == 0  # the same setups: the same runs


def test_budget_records_one_row_per_look_in_percent():
    result = augmentation.compare_budgets(
        {"a": _tiny_setup}, seeds=(0, 1, 2), budgets=(5, 10), lr=0.05
    )
    rows = augmentation.budget_records(result)
    assert len(rows) == 6 and {r["steps"] for r in rows} == {5, 10}
    first = next(t for t in result.trials if t.seed == 0 and t.params["steps"] == 5)
    assert (
        next(r for r in rows if r["seed"] == 0 and r["steps"] == 5)["val"]
        == 100 * first.scores["val"]
    )


def test_differences_plot_colours_only_the_claims():
    clear = protocol.paired_difference([0.9, 0.91, 0.92], [0.8, 0.8, 0.81], names=("a", "b"))
    unclear = protocol.paired_difference([0.9, 0.8, 0.92], [0.85, 0.86, 0.87], names=("c", "b"))
    ax = augmentation.differences_plot([clear, unclear], xlabel="points").axes[0]
    bars = ax.patches
    assert [round(b.get_width(), 3) for b in bars] == [round(clear.mean, 3), round(unclear.mean, 3)]
    assert bars[1].get_facecolor()[:3] == pytest.approx((0.75, 0.75, 0.75))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a − b", "c − b"]  # a on top


def test_digits_setup_draws_the_k_shot_task_and_the_head_from_the_seed():
    model, train, val, test = augmentation.digits_setup(None, k=2, batch_size=20)(seed=4)
    twin, train2, _, _ = augmentation.digits_setup(None, k=2, batch_size=20)(seed=4)
    assert len(train.dataset) == 20 and len(train) == 1 and len(val.dataset) == 200
    assert torch.equal(model.fc.weight, twin.fc.weight)
    assert torch.equal(train.dataset.images, train2.dataset.images)
    scratch, *_ = augmentation.digits_setup(None, k=2, batch_size=20, pretrained=False)(seed=4)
    assert not torch.equal(scratch.conv1.weight, model.conv1.weight)
