"""fit's contract beyond learning: its options, the global RNG, and the state it leaves after an
interruption (issue 10: a known state, and the mode each module was in)."""

import functools

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from train_fixtures import blobs, image_loaders, loader, mlp, same_state, state, tiny_resnet

from ftkit import training
from ftkit.fit_config import FitConfig
from ftkit.stopping import DivergenceGuard, EarlyStopping


class Interrupting:
    """A loader that raises ``error`` when batch number ``at`` (1-based, over all epochs) is
    requested; everything before it is the wrapped loader's batches, in order."""

    def __init__(self, inner, at: int, error: BaseException) -> None:
        self.inner, self.at, self.error, self.served = inner, at, error, 0

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        for batch in self.inner:
            self.served += 1
            if self.served == self.at:
                raise self.error
            yield batch


def modes(model):
    return {name: m.training for name, m in model.named_modules()}


# --- seeds, optimizer factories, criteria -----------------------------------------------------


def test_seed_none_leaves_the_global_rng_alone_and_a_seed_sets_it():
    x, y = blobs()
    model, train_loader = mlp(), loader(x, y)  # no dropout; the loader has its own generator
    torch.manual_seed(123)
    before = torch.get_rng_state()
    training.fit(model, train_loader, epochs=1, lr=0.05)
    assert torch.equal(torch.get_rng_state(), before)  # seed=None: untouched
    torch.manual_seed(7)
    seeded = torch.get_rng_state()
    torch.manual_seed(123)
    training.fit(model, train_loader, epochs=1, lr=0.05, seed=7)
    assert torch.equal(torch.get_rng_state(), seeded)  # seed=7 reset it, whatever came before


def test_an_optimizer_factory_matches_the_hand_written_loop():
    x, y = blobs()
    model = mlp()
    training.fit(
        model,
        loader(x, y, shuffle=False),
        epochs=2,
        lr=0.1,
        optimizer=functools.partial(torch.optim.SGD, momentum=0.0),
    )
    reference = mlp()
    opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(2):  # the plain loop lesson 07 writes by hand
        for xb, yb in loader(x, y, shuffle=False):
            loss = nn.functional.cross_entropy(reference(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_factory_gets_named_param_groups():
    seen = []

    def factory(groups):
        seen.extend(g["name"] for g in groups)
        return torch.optim.Adam(groups)

    history = training.fit(tiny_resnet(), image_loaders()[0], epochs=1, lr=0.01, optimizer=factory)
    assert seen == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert set(history.lr[0]) == set(seen)


def test_a_criterion_module_is_used_and_conflicts_are_named():
    x, y = blobs()
    kwargs = {"epochs": 1, "lr": 0.0, "seed": 0}
    by_name = training.fit(mlp(), loader(x, y), label_smoothing=0.2, **kwargs)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.2)
    by_module = training.fit(mlp(), loader(x, y), criterion=criterion, **kwargs)
    plain = training.fit(mlp(), loader(x, y), **kwargs)
    assert by_module.train_loss == pytest.approx(by_name.train_loss, rel=1e-6)
    assert by_module.train_loss[0] > plain.train_loss[0] + 1e-3
    with pytest.raises(ValueError, match="label_smoothing or a criterion"):
        training.fit(mlp(), loader(x, y), criterion=criterion, label_smoothing=0.1, epochs=1)


# --- bad options, found before any work ------------------------------------------------------


@pytest.mark.parametrize(
    "options, match",
    [
        ({"epochs": 1.5}, r"epochs must be a whole number, at least 1; got 1\.5"),
        ({"epochs": 0}, "epochs must be a whole number"),
        ({"epochs": 2, "lr": float("nan")}, "lr must be a finite number, at least 0; got nan"),
        ({"epochs": 2, "lr": {"model": -1.0}}, r"lr\['model'\] must be"),
        ({"epochs": 2, "optimizer": "sgdd"}, "optimizer must be one of"),
        ({"epochs": 2, "schedule": "step"}, "schedule must be one of"),
        ({"epochs": 2, "warmup_epochs": 3}, "warmup_epochs"),
        ({"epochs": 2, "label_smoothing": 1.0}, "label_smoothing"),
        ({"epochs": 2, "early_stopping": 0}, "early_stopping must be a whole number"),
        ({"epochs": 2, "clip_grad_norm": float("inf")}, "clip_grad_norm"),
        ({"epochs": 2, "seed": -1}, "seed must be"),
        ({"epochs": 2, "bn_policy": "frozen"}, "bn_policy must be one of"),
    ],
)
def test_bad_options_are_refused_by_name_before_training(options, match):
    x, y = blobs()
    model = mlp()
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(ValueError, match=match):
        training.fit(model, loader(x, y), **options)
    assert calls == []


def test_an_unknown_keyword_lists_the_valid_ones():
    x, y = blobs()
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) \['lrr'\].*'lr'"):
        training.fit(mlp(), loader(x, y), epochs=1, lrr=0.1)


def test_an_empty_val_loader_is_found_before_the_first_epoch():
    x, y = blobs()
    empty = DataLoader(TensorDataset(x[:3], y[:3]), batch_size=8, drop_last=True)
    model = mlp()
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(ValueError, match=r"val_loader yields no batch \(its dataset holds 3"):
        training.fit(model, loader(x, y), empty, epochs=1)
    assert calls == []


def test_bad_batches_name_the_fix():
    x, y = blobs()
    with pytest.raises(ValueError, match="head has 3 outputs.*replace_head"):
        training.fit(mlp(), loader(x, y + 1), epochs=1)
    uint8 = DataLoader(TensorDataset(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), y[:4]))
    with pytest.raises(ValueError, match="torch.uint8 images.*ToDtype"):
        training.fit(tiny_resnet(), uint8, epochs=1)


def test_a_config_object_and_keywords_combine():
    x, y = blobs()
    base = FitConfig(epochs=3, lr=0.05)
    history = training.fit(mlp(), loader(x, y), config=base, epochs=2)
    assert len(history) == 2 and history.lr[-1] == {"model": 0.05}


# --- the state fit leaves ---------------------------------------------------------------------


def test_modes_are_restored_per_module_after_fit():
    model = tiny_resnet()
    model.train()
    model.layer2.eval()
    before = modes(model)
    training.fit(model, image_loaders()[0], epochs=1, lr=0.01)
    assert modes(model) == before


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk gone")])
def test_an_interrupted_fit_keeps_the_last_completed_epoch_and_the_modes(error):
    x, y = blobs()
    model = mlp()
    model.eval()  # e.g. just evaluated: fit must give this back
    per_epoch = len(loader(x, y))
    completed = training.fit(mlp(), loader(x, y, shuffle=False), epochs=2, lr=0.05, seed=0)
    reference = mlp()
    training.fit(reference, loader(x, y, shuffle=False), epochs=2, lr=0.05, seed=0)
    stream = Interrupting(loader(x, y, shuffle=False), at=2 * per_epoch + 2, error=error)
    with pytest.raises(type(error)) as caught:
        training.fit(model, stream, epochs=5, lr=0.05, seed=0)
    assert same_state(state(model), state(reference))  # epoch 3's two steps were undone
    assert all(not m.training for m in model.modules())
    partial = caught.value.history
    assert partial.epoch == [1, 2] and partial.train_loss == completed.train_loss


def test_an_interrupted_fit_under_early_stopping_keeps_the_best_epoch():
    x, y = blobs()
    xv, yv = blobs(n_per_class=20, seed=1)
    val_loader = loader(xv, (yv + 1) % 3, shuffle=False)  # no epoch beats the first
    model = mlp()
    per_epoch = len(loader(x, y))
    stream = Interrupting(
        loader(x, y, shuffle=False), at=3 * per_epoch + 1, error=KeyboardInterrupt()
    )
    with pytest.raises(KeyboardInterrupt) as caught:
        training.fit(model, stream, val_loader, epochs=20, lr=0.05, early_stopping=10)
    partial = caught.value.history
    assert len(partial) == 3 and partial.best_epoch == 1
    loss, _ = training.evaluate(model, val_loader)
    assert loss == pytest.approx(partial.val_loss[0], rel=1e-6)  # epoch 1's weights, not 3's
    assert partial.val_loss[2] > partial.val_loss[0] * 1.2


def test_divergence_guard_and_early_stopping_in_isolation():
    model = nn.Linear(2, 2)
    guard = DivergenceGuard(model)
    good = state(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    assert guard.diverged(float("nan"), 1.0, 10) and guard.diverged(100.0, 1.0, 10)
    assert not guard.diverged(1.0, 1.0, 10)
    guard.restore()
    assert same_state(state(model), good)
    stopper = EarlyStopping(model, "val_loss", patience=2)
    assert [stopper.update(e, v) for e, v in enumerate([1.0, 0.5, 0.7, 0.6], 1)] == [
        False,
        False,
        False,
        True,
    ]
    assert stopper.best_epoch == 2 and stopper.restore_best()
