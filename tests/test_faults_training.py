"""Faults in what training is given, one row per case: data that does not fit the model, empty
loaders, and numbers out of range, for ``fit``, ``lr_range_test``, the probes and the data
helpers. Each row asserts the message (problem, value seen, fix) and that nothing was trained:
the model's weights are the ones it had.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from fault_fixtures import within
from torch.utils.data import DataLoader, IterableDataset, TensorDataset
from train_fixtures import images, mlp, tiny_resnet

from ftkit import compatibility, data, features, lr_finder, training
from ftkit.checks import InputError


def batches(x, y, batch_size=8, **kw) -> DataLoader:
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, **kw)


X, Y = images(n_per_class=4)  # (12, 3, 8, 8) float, labels 0..2
GOOD = batches(X, Y)

DATA_FAULTS = [
    (
        "uint8 pixels",
        batches((X * 40 + 128).clamp(0, 255).to(torch.uint8), Y),
        ["torch.uint8 images", "raw 0-255", "data.eval_transforms"],
    ),
    (
        "channels last",
        batches(X.permute(0, 2, 3, 1).contiguous(), Y),
        ["3-channel images", "shape (8, 8, 3) each", "x.permute(0, 3, 1, 2)"],
    ),
    ("one channel", batches(X[:, :1], Y), ["shape (1, 8, 8) each", "x.expand(-1, 3, -1, -1)"]),
    ("no channel axis", batches(X[:, 0], Y), ["(batch, channels, height, width)", "(8, 8) each"]),
    (
        "label above the head",
        batches(X, Y + 3),
        ["labels up to 5", "3 outputs", "replace_head(model, 6)"],
    ),
    ("negative label", batches(X, Y - 1), ["negative label", "label -1", "0, 1, 2"]),
    ("float labels", batches(X, Y.float()), ["not class indices", "torch.float32", ".long()"]),
    ("one-hot labels", batches(X, torch.eye(3)[Y]), ["one-hot", "labels.argmax(1)"]),
    ("int32 labels", batches(X, Y.int()), ["torch.int32 labels", "labels.long()"]),
    (
        "drop_last eats all",
        batches(X, Y, batch_size=64, drop_last=True),
        ["no batch", "drop_last"],
    ),
    ("empty dataset", batches(X[:0], Y[:0]), ["no batch"]),
    ("a valid loader (the control)", batches(torch.randn(12, 3, 8, 8), Y), None),
]


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "loader, words", [c[1:] for c in DATA_FAULTS], ids=[c[0] for c in DATA_FAULTS]
)
@pytest.mark.parametrize("where", ["train", "val", "lr_range_test"])
def test_data_that_does_not_fit_is_refused_before_training(loader, words, where):
    model = tiny_resnet()
    before = _state(model)
    if where == "train":
        run = lambda: training.fit(model, loader, GOOD, epochs=1, lr=0.1)
    elif where == "val":
        run = lambda: training.fit(model, GOOD, loader, epochs=1, lr=0.1)
    else:
        run = lambda: lr_finder.lr_range_test(model, loader, num_steps=5)
    if words is None:
        run()
        return
    with pytest.raises(ValueError) as err:
        within(60, run)
    message = str(err.value)
    mine = isinstance(err.value, InputError)  # else fit_config's own check came first
    for word in words + (["got", "Fix:"] if mine else []):
        assert word in message, message
    name = "val_loader" if where == "val" else "train_loader"
    assert message.startswith(name) or name in message
    assert _same(before, _state(model))  # not one step was taken


NUMBER_FAULTS = [  # fit's numbers are FitConfig's (ftkit.fit_config): problem, value, example
    ({"epochs": 1.5}, ["epochs must be a whole number", "got 1.5", "pass epochs=2 or epochs=1"]),
    ({"epochs": 0}, ["epochs must be", "got 0"]),
    ({"epochs": True}, ["epochs", "got True"]),
    ({"epochs": "3"}, ["epochs", "got '3'"]),
    ({"lr": math.nan}, ["lr must be a finite number", "got nan", "such as lr="]),
    ({"lr": math.inf}, ["lr must be", "got inf"]),
    ({"lr": -0.1}, ["lr must be", "got -0.1"]),
    ({"lr": {"head": 0.1, "layer4": math.nan}}, ["lr['layer4']", "got nan"]),
    ({"weight_decay": -1e-4}, ["weight_decay", "got -0.0001"]),
    ({"warmup_epochs": 5}, ["warmup_epochs", "at most 2", "got 5", "at most epochs"]),
    ({"label_smoothing": 1.0}, ["label_smoothing", "got 1.0"]),
    ({"l2sp": math.nan}, ["l2sp", "got nan"]),
    ({"early_stopping": 0}, ["early_stopping", "got 0"]),
    ({"clip_grad_norm": 0}, ["clip_grad_norm", "above 0", "got 0", "or None"]),
    ({"max_loss": -1}, ["max_loss", "got -1"]),
    ({"seed": -1}, ["seed must be a whole number, at least 0", "got -1"]),
    ({"seed": 0.5}, ["seed", "got 0.5"]),
]


@pytest.mark.parametrize("kwargs, words", NUMBER_FAULTS, ids=[str(c[0]) for c in NUMBER_FAULTS])
def test_fit_numbers_out_of_range_are_refused_with_the_fix(kwargs, words):
    model = tiny_resnet()
    before = _state(model)
    settings = {"epochs": 2, "lr": 0.1, **kwargs}
    with pytest.raises(ValueError) as err:
        training.fit(model, GOOD, GOOD, **settings)
    for word in words:
        assert word in str(err.value), str(err.value)
    assert _same(before, _state(model))


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"start_lr": 0}, ["start_lr", "got start_lr=0"]),
        ({"start_lr": 1e-2, "end_lr": 1e-3}, ["start_lr < end_lr", "end_lr=0.001"]),
        ({"end_lr": math.inf}, ["end_lr=inf"]),
        ({"num_steps": 1}, ["num_steps", "got 1"]),
        ({"smoothing": 0}, ["smoothing=0"]),
        ({"diverge_factor": 1}, ["diverge_factor=1"]),
    ],
)
def test_lr_range_test_numbers_are_checked(kwargs, words):
    with pytest.raises(ValueError) as err:
        lr_finder.lr_range_test(tiny_resnet(), GOOD, **kwargs)
    for word in words:
        assert word in str(err.value), str(err.value)


class _Nothing(IterableDataset):
    def __iter__(self):
        return iter(())


def test_lr_range_test_on_a_loader_that_never_yields_stops_instead_of_spinning():
    empty = DataLoader(_Nothing(), batch_size=4)  # no len(): only the loop bound can catch it
    with pytest.raises(ValueError, match="yielded no batch.*drop_last=False"):
        within(30, lambda: lr_finder.lr_range_test(tiny_resnet(), empty, num_steps=10))


def test_the_check_leaves_the_loader_order_and_the_random_state_alone():
    def fresh():
        return DataLoader(
            TensorDataset(X, Y),
            batch_size=4,
            shuffle=True,
            generator=torch.Generator().manual_seed(5),
        )

    checked, model = fresh(), tiny_resnet()
    torch.manual_seed(11)
    random.seed(11)
    np.random.seed(11)
    compatibility.check_compatible(model, checked)
    after = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(11)
    random.seed(11)
    np.random.seed(11)
    expected = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(after[0], expected[0]) and after[1:] == expected[1:]
    order = [y.tolist() for _, y in checked]
    assert order == [y.tolist() for _, y in fresh()]


def test_model_modes_survive_the_check():
    model = tiny_resnet().train()
    model.layer1.eval()  # a frozen-BN style mix of modes
    compatibility.check_compatible(model, GOOD)
    assert model.training and not model.layer1.training and model.layer2.training


def test_a_model_without_convolutions_is_not_held_to_image_rules():
    x = torch.randn(12, 8)
    history = training.fit(mlp(), batches(x, Y), epochs=1, lr=0.1)
    assert len(history.train_loss) == 1


PROBE_FAULTS = [
    ({"num_classes": 2}, ["labels up to 2", "a head with num_classes=2", "got label 2"]),
    ({"num_classes": 1}, ["num_classes must be", "at least 2", "got 1"]),
    ({"train_labels": Y[:5]}, ["differ in length", "12 and 5"]),
    ({"train_feats": torch.full((12, 4), math.nan)}, ["NaN or inf", "diverged"]),
    ({"train_feats": torch.zeros(0, 4), "train_labels": Y[:0]}, ["train_feats is empty"]),
    ({"train_feats": torch.zeros(12, 4, dtype=torch.long)}, ["must be floating point"]),
    ({"val_feats": torch.zeros(3, 5), "val_labels": Y[:3]}, ["same width", "4 and 5"]),
    ({"val_feats": torch.zeros(3, 4)}, ["go together", "val_labels"]),
    ({"epochs": 0}, ["epochs", "got 0"]),
    ({"lr": math.nan}, ["lr must be", "got nan"]),
    ({"batch_size": 0}, ["batch_size", "got 0"]),
]


@pytest.mark.parametrize("kwargs, words", PROBE_FAULTS, ids=[str(k) for k, _ in PROBE_FAULTS])
def test_probe_inputs_are_checked(kwargs, words):
    settings = {"train_feats": torch.randn(12, 4), "train_labels": Y, "num_classes": 3, **kwargs}
    with pytest.raises(InputError) as err:
        features.train_linear_probe(**settings)
    for word in words + ["got", "Fix:"]:
        assert word in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "make, words",
    [
        (
            lambda: features.linear_probe(tiny_resnet(), batches(X[:0], Y[:0]), num_classes=3),
            ["train_loader yielded no batch"],
        ),
        (
            lambda: features.linear_probe(tiny_resnet(), GOOD, num_classes=3, epochs=-1),
            ["epochs", "got -1"],
        ),
        (
            lambda: features.linear_probe(tiny_resnet(), batches(X, Y + 5), num_classes=3),
            ["labels up to 7", "num_classes=3"],
        ),
        (
            lambda: features.linear_probe_recompute(tiny_resnet(), GOOD, num_classes=3, lr=-1),
            ["lr must be", "got -1"],
        ),
        (
            lambda: features.extract_features(tiny_resnet(), batches(X[:0], Y[:0])),
            ["yielded no batch"],
        ),
    ],
)
def test_probe_loaders_are_checked_before_extraction(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words:
        assert word in str(err.value), str(err.value)


DATA_ARGUMENT_FAULTS = [
    (lambda: data.load_target("digits", k=0), ["k must be", "got 0", "pick k in that range"]),
    (lambda: data.load_target("digits", k=2.5), ["k must be a whole number", "got 2.5"]),
    (lambda: data.load_target("digits", k=10_000), ["at most", "got 10000"]),
    (lambda: data.load_target("digits", k=5, seed=-1), ["seed", "got -1"]),
    (lambda: data.load_target("digits", k=5, image_size=0), ["image_size", "got 0"]),
    (lambda: data.load_target("imagenet", k=5), ["unknown target", "'imagenet'", "digits"]),
    (lambda: data.source_eval_set(per_class=0), ["per_class", "got 0"]),
    (lambda: data.train_transforms(_INFO, rotation=math.nan), ["rotation", "got nan"]),
    (lambda: data.train_transforms(_INFO, scale=(1.1, 0.9)), ["scale[1]", "got 0.9"]),
    (lambda: data.train_transforms(_INFO, scale=0.9), ["(low, high) pair", "got 0.9"]),
    (lambda: data.train_transforms(_INFO, hflip_prob=2), ["hflip_prob", "got 2"]),
    (lambda: data.train_transforms(_INFO, crop_padding=-4), ["crop_padding", "got -4"]),
    (lambda: data.train_transforms(_INFO, color_jitter=-0.1), ["color_jitter", "got -0.1"]),
    (
        lambda: data.TensorImageDataset(
            torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0.0, 1.0]), ["a", "b"]
        ),
        ["integer class indices", "torch.float32"],
    ),
    (
        lambda: data.TensorImageDataset(
            torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1]), ["a", "b"]
        ),
        ["one label", "2 images and 3 labels"],
    ),
]


@pytest.mark.parametrize("make, words", DATA_ARGUMENT_FAULTS)
def test_data_arguments_are_checked(make, words):
    with pytest.raises(ValueError) as err:
        make()
    for word in words + ["got", "Fix:"]:
        assert word in str(err.value), str(err.value)


def test_make_loaders_refuses_batch_size_zero():
    splits = data.load_target("digits", k=2)
    with pytest.raises(InputError, match="batch_size must be .*got 0"):
        data.make_loaders(splits, _INFO, batch_size=0)


class _Info:
    name, image_size, mean, std = "tiny", 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


_INFO = _Info()


def test_a_stateful_iterable_is_not_consumed_by_the_check():
    class Counting:
        def __init__(self):
            self.served = 0

        def __len__(self):
            return 2

        def __iter__(self):
            for batch in GOOD:
                self.served += 1
                yield batch

    stream = Counting()
    compatibility.check_compatible(tiny_resnet(), stream)
    assert stream.served == 0
    compatibility.check_compatible(tiny_resnet(), list(GOOD))  # a list is looked at, not used
