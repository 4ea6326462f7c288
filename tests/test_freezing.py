from collections import OrderedDict

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_small
from train_fixtures import image_loaders, state, tiny_resnet

from ftkit import freezing, models, training

GROUPS = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def grad_flags(model):
    return {
        name: [p.requires_grad for p in g.parameters()]
        for name, g in models.layer_groups(model).items()
    }


def test_freeze_and_unfreeze_named_groups():
    model = tiny_resnet()
    freezing.freeze(model, ["stem", "layer1"])
    flags = grad_flags(model)
    assert not any(flags["stem"] + flags["layer1"])
    assert all(flags["layer2"] + flags["head"])
    freezing.unfreeze(model, "layer1")
    flags = grad_flags(model)
    assert all(flags["layer1"]) and not any(flags["stem"])


def test_freeze_whole_module_and_user_groups():
    model = tiny_resnet()
    freezing.freeze(model)
    assert not any(p.requires_grad for p in model.parameters())
    groups = OrderedDict(body=model.layer1, top=model.fc)
    freezing.unfreeze(groups, ["top"])
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    freezing.unfreeze(groups)
    assert all(p.requires_grad for p in model.layer1.parameters())


def test_unknown_group_name_lists_valid_names():
    with pytest.raises(
        ValueError, match="layer5.*valid names: stem, layer1, layer2, layer3, layer4, head"
    ):
        freezing.freeze(tiny_resnet(), ["layer1", "layer5"])


@pytest.mark.parametrize("n", range(7))
def test_freeze_to_freezes_first_n_groups(n):
    model = tiny_resnet()
    freezing.freeze(model, "head")  # freeze_to must also unfreeze what comes after n
    freezing.freeze_to(model, n)
    flags = grad_flags(model)
    assert [name for name in GROUPS if not any(flags[name])] == GROUPS[:n]
    assert all(all(flags[name]) for name in GROUPS[n:])


def test_freeze_to_negative_and_out_of_range():
    model = tiny_resnet()
    freezing.freeze_to(model, -1)
    assert [r["status"] for r in freezing.trainable_summary(model)] == ["frozen"] * 5 + [
        "trainable"
    ]
    with pytest.raises(ValueError, match="between -6 and 6"):
        freezing.freeze_to(model, 7)


def test_freeze_to_on_mobilenet_leaves_only_classifier():
    model = mobilenet_v3_small(weights=None)
    freezing.freeze_to(model, -1)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"classifier"}


def test_frozen_parameters_do_not_move_after_an_optimizer_step():
    model = tiny_resnet()
    freezing.freeze(model, ["stem", "layer1"])
    before = state(model)
    # all parameters handed over, as a learner might; weight decay would move them if it could
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    after = state(model)
    for name in before:
        if name.endswith(("weight", "bias")):
            frozen = name.startswith(("conv1", "bn1", "layer1"))
            assert torch.equal(before[name], after[name]) == frozen, name


def bn_stats(model, prefix):
    return [
        v.clone() for k, v in model.state_dict().items() if k.startswith(prefix) and "running" in k
    ]


@pytest.mark.parametrize("policy, frozen_bn_changes", [("frozen_eval", False), ("train", True)])
def test_bn_policy_on_running_stats(policy, frozen_bn_changes):
    model = tiny_resnet()
    freezing.freeze(model, ["stem", "layer1"])
    frozen_before, live_before = bn_stats(model, "layer1"), bn_stats(model, "layer2")
    train_loader, _ = image_loaders()
    training.fit(model, train_loader, epochs=2, lr=0.01, bn_policy=policy)
    frozen_same = all(torch.equal(a, b) for a, b in zip(frozen_before, bn_stats(model, "layer1")))
    live_same = all(torch.equal(a, b) for a, b in zip(live_before, bn_stats(model, "layer2")))
    assert frozen_same is not frozen_bn_changes
    assert not live_same  # trainable groups' BN always adapts


def test_set_bn_eval_in_frozen_survives_train_and_follows_manual_freeze():
    model = tiny_resnet()
    for p in model.layer1.parameters():  # frozen by hand, as in the lesson
        p.requires_grad = False
    model.train()
    assert freezing.set_bn_eval_in_frozen(model) == 2  # layer1's block has bn1 and bn2
    assert not model.layer1[0].bn1.training and model.layer2[0].bn1.training
    model.train()
    freezing.apply_bn_policy(model, "frozen_eval")
    assert not model.layer1[0].bn2.training
    with pytest.raises(ValueError, match="bn_policy"):
        freezing.apply_bn_policy(model, "eval")


def test_trainable_summary_counts_and_table():
    model = tiny_resnet()
    freezing.freeze(model, "layer2")
    model.layer3[0].conv1.weight.requires_grad_(False)
    rows = freezing.trainable_summary(model)
    assert [r["name"] for r in rows] == GROUPS
    by_name = {r["name"]: r for r in rows}
    assert by_name["layer2"]["status"] == "frozen" and by_name["layer2"]["trainable"] == 0
    assert by_name["layer3"]["status"] == "partial"
    assert by_name["layer3"]["params"] - by_name["layer3"]["trainable"] == 8 * 8 * 3 * 3
    assert by_name["head"] == {
        "name": "head",
        "params": 8 * 3 + 3,
        "trainable": 27,
        "status": "trainable",
    }
    assert sum(r["params"] for r in rows) == models.count_parameters(model)
    table = freezing.format_summary(rows)
    assert table.splitlines()[0].split() == ["group", "params", "trainable", "status"]
    total = models.count_parameters(model, trainable_only=True)
    assert table.splitlines()[-1].split()[:3] == [
        "total",
        f"{models.count_parameters(model):,}",
        f"{total:,}",
    ]


def test_summary_reports_parameters_outside_groups():
    model = tiny_resnet()
    rows = freezing.trainable_summary(model, OrderedDict(head=model.fc))
    assert [r["name"] for r in rows] == ["head", "other"]
    assert rows[1]["params"] == models.count_parameters(model) - 27
