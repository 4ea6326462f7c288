import itertools
import math

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_small, resnet18
from train_fixtures import (
    blobs,
    image_loaders,
    loader,
    mlp,
    same_state,
    state,
    tiny_resnet,
)

from ftkit import freezing, models, training
from ftkit.history import History, concat_histories
from ftkit.schedules import lr_factor, make_scheduler

GROUPS = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


# --- param groups ----------------------------------------------------------------------------


def assert_each_trainable_once(model, groups):
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("make", [tiny_resnet, lambda: resnet18(), lambda: mobilenet_v3_small()])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
def test_param_groups_cover_every_trainable_parameter_once(make, weight_decay):
    model = make()
    freezing.freeze_to(model, 2)
    groups = training.param_groups(model, 0.1, weight_decay=weight_decay)
    assert_each_trainable_once(model, groups)
    names = [g["name"] for g in groups]
    frozen = list(models.layer_groups(model))[:2]
    assert not any(n.split("/")[0] in frozen for n in names)
    if weight_decay:
        assert all((g["weight_decay"] == 0) == g["name"].endswith("/no_decay") for g in groups)
        assert all(
            p.ndim == 1 for g in groups if g["name"].endswith("/no_decay") for p in g["params"]
        )
        assert all(
            p.ndim > 1 for g in groups if not g["name"].endswith("/no_decay") for p in g["params"]
        )
    else:
        assert names == list(models.layer_groups(model))[2:]


def test_param_groups_per_group_lr_and_errors():
    model = tiny_resnet()
    lrs = training.discriminative_lrs(model, 1.0, factor=2.0)
    groups = training.param_groups(model, lrs, weight_decay=0.1)
    assert {g["name"]: g["lr"] for g in groups}["layer3/no_decay"] == 0.25
    freezing.freeze(model, "stem")
    del lrs["stem"]  # a frozen group needs no lr
    training.param_groups(model, lrs)
    with pytest.raises(ValueError, match="no entry for trainable group 'layer1'"):
        training.param_groups(model, {"head": 1.0, "layer2": 1.0})
    with pytest.raises(ValueError, match="unknown group.*layer9"):
        training.param_groups(model, {**lrs, "layer9": 1.0})


def test_param_groups_fall_back_to_one_group_for_unknown_architectures():
    model = mlp()
    groups = training.param_groups(model, 0.1)
    assert [g["name"] for g in groups] == ["model"]
    assert_each_trainable_once(model, groups)
    with pytest.raises(TypeError, match="layer groups"):
        training.param_groups(model, {"model": 0.1})


def test_discriminative_lrs_are_geometric_from_the_head_down():
    lrs = training.discriminative_lrs(tiny_resnet(), 1e-2, factor=2.6)
    assert list(lrs) == GROUPS
    assert lrs["head"] == 1e-2
    assert lrs["layer4"] == pytest.approx(1e-2 / 2.6)
    assert lrs["stem"] == pytest.approx(1e-2 / 2.6**5)


def test_discriminative_lrs_land_in_the_optimizer_groups():
    model = tiny_resnet()
    freezing.freeze_to(model, 2)
    lrs = training.discriminative_lrs(model, 0.05, factor=3.0)
    train_loader, _ = image_loaders()
    history = training.fit(model, train_loader, epochs=1, lr=lrs)
    assert history.lr[-1] == {name: lrs[name] for name in GROUPS[2:]}


# --- schedules -------------------------------------------------------------------------------


def test_warmup_starts_small_and_reaches_base_lr():
    f = lr_factor("constant", 100, warmup_steps=10)
    assert f(0) == pytest.approx(0.1)
    assert f(4) == pytest.approx(0.5)
    assert f(9) == f(10) == f(99) == 1.0


def test_cosine_halves_midway_and_ends_near_zero():
    f = lr_factor("cosine", 100, warmup_steps=20)
    assert f(19) == 1.0 and f(20) == 1.0
    assert f(60) == pytest.approx(0.5)
    assert f(99) < 1e-3 and f(100) == pytest.approx(0.0)


def test_onecycle_rises_peaks_and_falls():
    f = lr_factor("onecycle", 100)
    values = [f(s) for s in range(100)]
    assert values[0] == pytest.approx(1 / 25)
    assert max(values) == values[30] == 1.0
    assert values[99] == pytest.approx(1 / 25e4)
    assert all(a <= b for a, b in itertools.pairwise(values[:31]))
    assert all(a >= b for a, b in itertools.pairwise(values[30:]))


def test_scheduler_scales_every_group():
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": params[:1], "lr": 1.0}, {"params": params[1:], "lr": 0.1}])
    scheduler = make_scheduler(opt, "cosine", 10)
    for _ in range(5):
        opt.step()
        scheduler.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])
    assert make_scheduler(opt, "constant", 10) is None
    with pytest.raises(ValueError, match="schedule"):
        lr_factor("step", 10)


def test_fit_records_scheduled_lr_per_epoch():
    x, y = blobs()
    history = training.fit(
        mlp(), loader(x, y, batch_size=30), epochs=4, lr=0.1, schedule="cosine", warmup_epochs=1
    )
    # 4 batches/epoch: after epoch 1 the warm-up is done; cosine then ends at 0
    assert [h["model"] for h in history.lr] == pytest.approx(
        [
            0.1,
            0.1 * 0.5 * (1 + math.cos(math.pi / 3)),
            0.1 * 0.5 * (1 + math.cos(2 * math.pi / 3)),
            0.0,
        ],
        abs=1e-9,
    )


# --- fit -------------------------------------------------------------------------------------


def test_fit_learns_a_separable_problem():
    x, y = blobs()
    xv, yv = blobs(n_per_class=20, seed=1)
    history = training.fit(mlp(), loader(x, y), loader(xv, yv), epochs=8, lr=0.05)
    assert history.val_acc[-1] >= 0.95 and history.train_acc[-1] >= 0.95
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.epoch == list(range(1, 9)) and history.stage == [0] * 8
    assert not history.stopped_early and not history.diverged


def test_fit_is_deterministic_for_a_seed():
    def run(seed):
        model = tiny_resnet()
        models.replace_head(model, 3, dropout=0.3, seed=1)
        train_loader, val_loader = image_loaders()
        history = training.fit(model, train_loader, val_loader, epochs=2, lr=0.05, seed=seed)
        return [r | {"seconds": 0} for r in history.as_records()], state(model)

    (a, sa), (b, sb), (c, _) = run(0), run(0), run(1)
    assert a == b and same_state(sa, sb)
    assert a != c  # the seed drives dropout


def test_early_stopping_restores_best_weights():
    x, y = blobs()
    xv, yv = blobs(n_per_class=20, seed=1)
    yv = (yv + 1) % 3  # validation labels disagree with training: no epoch beats the first
    model = mlp()
    val_loader = loader(xv, yv, shuffle=False)
    history = training.fit(model, loader(x, y), val_loader, epochs=20, lr=0.05, early_stopping=2)
    assert history.stopped_early and len(history) == 3 and history.best_epoch == 1
    loss, acc = training.evaluate(model, val_loader)
    assert acc == history.best("val_acc") == history.val_acc[0]
    # the restored weights are epoch 1's, not the last epoch's (whose loss is far higher)
    assert loss == pytest.approx(history.val_loss[0], rel=1e-6)
    assert history.val_loss[-1] > 2 * history.val_loss[0]


def test_early_stopping_on_val_loss_and_needs_a_val_loader():
    x, y = blobs()
    with pytest.raises(ValueError, match="val_loader"):
        training.fit(mlp(), loader(x, y), epochs=1, early_stopping=2)
    history = training.fit(
        mlp(),
        loader(x, y),
        loader(x, (y + 1) % 3),
        epochs=10,
        lr=0.05,
        early_stopping=1,
        monitor="val_loss",
    )
    assert history.stopped_early
    assert history.val_loss[history.best_epoch - 1] == history.best("val_loss")


def test_divergence_raises_names_the_lr_and_keeps_finite_weights():
    model = tiny_resnet()
    start = state(model)
    train_loader, _ = image_loaders()
    with pytest.raises(
        training.DivergenceError, match=r"learning rate.*head=1e\+03.*10x smaller"
    ) as err:
        training.fit(model, train_loader, epochs=3, lr=1e3)
    assert isinstance(err.value, RuntimeError)
    assert all(torch.isfinite(v.float()).all() for v in model.state_dict().values())
    assert same_state(start, state(model))  # diverged in epoch 1: back to the start


def test_divergence_stop_returns_history_and_keeps_learned_epochs():
    x, y = blobs()
    model = mlp()
    # a custom limit far below the real loss stands in for an explosion, from epoch 1 on
    history = training.fit(
        model, loader(x, y), epochs=3, lr=0.05, max_loss=1e-3, on_divergence="stop"
    )
    assert history.diverged and len(history) == 0
    model = mlp()
    history = training.fit(model, loader(x, y), epochs=1, lr=0.05)
    after_one = state(model)
    more = training.fit(model, loader(x, y), epochs=3, lr=1e4, on_divergence="stop")
    assert more.diverged and same_state(after_one, state(model))


def test_clip_grad_norm_bounds_the_step():
    x, y = blobs(n_per_class=5)
    changes = []
    for clip in (None, 1e-3):
        model = mlp()
        start = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        training.fit(model, loader(x, y, batch_size=15), epochs=1, lr=1.0, clip_grad_norm=clip)
        changes.append(
            (torch.cat([p.detach().flatten() for p in model.parameters()]) - start).norm()
        )
    # one Nesterov SGD step moves by lr * (1 + momentum) * ||g|| at most
    assert changes[1] <= 1.9e-3 + 1e-6 < changes[0]


def test_evaluate_matches_a_manual_count_and_restores_modes():
    model = tiny_resnet()
    _, val_loader = image_loaders()
    model.train()
    model.layer1.eval()
    loss, acc = training.evaluate(model, val_loader)
    assert model.training and not model.layer1.training and model.layer2.training
    model.eval()
    with torch.no_grad():
        x, y = next(iter(val_loader))  # one batch holds the whole validation set
        logits = model(x)
    assert acc == (logits.argmax(1) == y).sum().item() / len(y)
    assert 0 < acc < 1
    assert loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)


# --- recipes -------------------------------------------------------------------------------


def test_gradual_unfreeze_adds_one_group_per_stage():
    model = tiny_resnet()
    train_loader, val_loader = image_loaders()
    seen = []
    original = training.fit

    def spy(model, *args, **kwargs):
        seen.append(
            [
                n
                for n, g in models.layer_groups(model).items()
                if all(p.requires_grad for p in g.parameters())
            ]
        )
        return original(model, *args, **kwargs)

    training.fit = spy
    try:
        history = training.gradual_unfreeze(
            model, train_loader, val_loader, epochs_per_stage=1, lr=0.01, stages=4
        )
    finally:
        training.fit = original
    assert seen == [GROUPS[-1 - s :] for s in range(4)]
    assert history.stage == [0, 1, 2, 3] and history.epoch == [1, 2, 3, 4]
    assert [sorted(h) for h in history.lr] == [sorted(GROUPS[-1 - s :]) for s in range(4)]
    assert history.best_epoch == 1 + history.val_acc.index(history.best("val_acc"))


def test_lp_ft_probe_phase_leaves_backbone_unchanged():
    model = tiny_resnet()
    start = state(model)
    train_loader, val_loader = image_loaders()
    snapshots = []
    original = training.fit

    def spy(model, *args, **kwargs):
        snapshots.append(state(model))
        return original(model, *args, **kwargs)

    training.fit = spy
    try:
        history = training.lp_ft(
            model,
            train_loader,
            val_loader,
            probe_epochs=2,
            probe_lr=0.05,
            finetune_epochs=1,
            finetune_lr=0.01,
        )
    finally:
        training.fit = original
    after_probe = snapshots[1]
    backbone = [k for k in start if not k.startswith("fc.")]
    assert same_state(start, after_probe, backbone)  # weights and BN statistics
    assert not same_state(start, after_probe, ["fc.weight"])
    assert not same_state(after_probe, state(model), ["layer1.0.conv1.weight"])
    assert history.stage == [0, 0, 1]
    assert list(history.lr[0]) == ["head"] and list(history.lr[-1]) == GROUPS
    assert all(p.requires_grad for p in model.parameters())


def test_history_helpers():
    h = History()
    for i, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.8), (0.7, 0.7)], start=1):
        h.append(
            epoch=i,
            train_loss=loss,
            train_acc=acc,
            val_loss=loss,
            val_acc=acc,
            lr={"head": 0.1},
            seconds=1.0,
        )
    assert h.best("val_acc") == 0.8 and h.best("val_loss") == 0.5 and h.last("val_acc") == 0.7
    assert h.as_records()[1] == {
        "epoch": 2,
        "stage": 0,
        "train_loss": 0.5,
        "train_acc": 0.8,
        "val_loss": 0.5,
        "val_acc": 0.8,
        "seconds": 1.0,
        "lr": {"head": 0.1},
    }
    both = concat_histories([h, h])
    assert both.epoch == list(range(1, 7)) and both.stage == [0, 0, 0, 1, 1, 1]
    assert both.best_epoch == 2
    with pytest.raises(ValueError, match="metric"):
        h.best("accuracy")
