"""anatomy (lesson 01): activations, per-block probes, the measured model choice."""

import matplotlib

matplotlib.use("Agg")

from dataclasses import replace

import torch
from matplotlib.figure import Figure

from ftkit import data, features, models
from ftkit.studies import anatomy


def test_block_activations_shapes_and_mode_restored():
    backbone, info = models.load_backbone("embedded")
    backbone.train()
    image = data.load_target("digits", k=1).test.images[0]
    acts = anatomy.block_activations(backbone, image, info)
    assert list(acts) == list(anatomy.BLOCKS)
    assert [tuple(a.shape) for a in acts.values()] == [
        (16, 32, 32),
        (16, 32, 32),
        (32, 16, 16),
        (64, 8, 8),
        (128, 4, 4),
    ]
    assert backbone.training
    with torch.no_grad():  # layer4's pooled activations are the features the head sees
        pooled = acts["layer4"].mean(dim=(1, 2))
        backbone.eval()
        x = data.eval_transforms(info)(image).unsqueeze(0)
        expected = features.extract_features(backbone, [(x, torch.tensor([0]))])[0][0]
    assert torch.allclose(pooled, expected, atol=1e-5)
    fig = anatomy.activations_figure(acts, "layer2", n=8)
    assert isinstance(fig, Figure) and "layer2: 32 channels of 16x16" in fig._suptitle.get_text()


def test_block_scores_are_deterministic_and_pretrained_layer4_reads_near_glyphs():
    backbone, info = models.load_backbone("embedded")
    splits = data.load_target("near", k=5, seed=0)
    cache = features.FeatureCache()
    a = anatomy.block_scores(backbone, splits, info, block="layer4", seed=0, cache=cache)
    b = anatomy.block_scores(backbone, splits, info, block="layer4", seed=0, cache=cache)
    assert a == b and set(a) == {"val", "test"}
    assert a["test"] > 0.8  # chance is 0.1
    stem = anatomy.block_scores(backbone, splits, info, block="stem", seed=0, cache=cache)
    assert stem["test"] < a["test"] - 0.3


def test_balanced_accuracy_weighs_every_class_equally():
    head = torch.nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        head.bias.zero_()
    feats = torch.tensor([[1.0, 0.0]] * 9 + [[1.0, 0.0]])  # always predicts class 0
    labels = torch.tensor([0] * 9 + [1])
    assert anatomy.balanced_accuracy(head, feats, labels) == 0.5  # plain accuracy: 0.9


def test_compare_blocks_tunes_each_probe_and_pairs_the_seeds():
    backbone, info = models.load_backbone("embedded")
    calls = []

    def random_init(seed):
        calls.append(seed)
        torch.manual_seed(seed)
        return models.load_backbone("embedded", pretrained=False)[0]

    c = anatomy.compare_blocks(
        {"pretrained": lambda seed: backbone, "random init": random_init},
        "near",
        info,
        k=2,
        blocks=("stem", "layer4"),
        grid=({"weight_decay": 1e-3}, {"weight_decay": 1e-1}),
    )
    assert sorted(calls) == [0, 1, 2]  # one random init per seed, reused across blocks and grid
    assert set(c.chosen) == {"pretrained stem", "pretrained layer4", "random init stem",
                             "random init layer4"}  # fmt: skip
    assert len(c.trials) == 4 * 2 * 3
    rows = anatomy.block_records(c, target="near")
    assert {(r["init"], r["block"], r["depth"]) for r in rows} >= {("random init", "layer4", 4)}
    growth = anatomy.gap_growth(c, "stem", "layer4")
    assert growth.clears and growth.mean > 20  # near: pretrained late layers carry the transfer


def test_candidates_read_the_target_at_their_own_size():
    emb, emb_info = models.load_backbone("embedded")
    candidates = {
        "a": anatomy.Candidate(lambda seed: emb, emb_info),
        "b": anatomy.Candidate(lambda seed: emb, replace(emb_info, image_size=16)),
    }
    c = anatomy.compare_candidates(candidates, "digits", k=2, grid=({"weight_decay": 1e-2},))
    assert c.chosen == {"a": {"weight_decay": 1e-2}, "b": {"weight_decay": 1e-2}}
    assert all(0 <= v <= 1 for v in c.scores("b"))
    seen = []
    emb.conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[-1]))
    images = data.load_target("digits", k=1, image_size=16).test.images[:4]
    cost = anatomy.size_and_speed(emb, replace(emb_info, image_size=16), images, repeats=1)
    assert seen == [16] and cost["parameters"] == models.count_parameters(emb)
    assert abs(cost["MB"] - 4 * cost["parameters"] / 1e6) < 0.01  # float32 (+ BN buffers)
    assert cost["ms per image"] > 0
