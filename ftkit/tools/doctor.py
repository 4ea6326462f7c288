"""``ftkit doctor``: can this machine run the course? Checks, each with the fix when it fails."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import time
from dataclasses import dataclass

import torch

from ftkit import imagenet, models, photos

REQUIRED = (
    "torch",
    "torchvision",
    "matplotlib",
    "ipywidgets",
    "jupyterlab",
    "tqdm",
    "sklearn",
    "skimage",
    "nbclient",
    "ipykernel",
    "peft",
)
DISTRIBUTIONS = {"sklearn": "scikit-learn", "skimage": "scikit-image"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def check_packages() -> list[Check]:
    checks = []
    for module in REQUIRED:
        dist = DISTRIBUTIONS.get(module, module)
        try:
            importlib.import_module(module)
            checks.append(Check(dist, True, importlib.metadata.version(dist)))
        except ImportError as exc:
            checks.append(Check(dist, False, f"cannot import: {exc}", f"pip install {dist}"))
    return checks


def check_embedded_weights() -> Check:
    start = time.perf_counter()
    try:
        model, info = models.load_backbone(models.EMBEDDED_NAME)
    except (FileNotFoundError, models.ChecksumError, RuntimeError) as exc:
        return Check(
            "embedded backbone",
            False,
            str(exc).splitlines()[0],
            "pip install --force-reinstall ftkit "
            "(or, in a clone, `git checkout ftkit/source/weights`)",
        )
    seconds = time.perf_counter() - start
    digest = models.sha256_of(models.weights_dir() / models.CHECKPOINT_FILE)
    return Check(
        "embedded backbone",
        True,
        f"sha256 {digest[:12]}... verified, {models.count_parameters(model):,} parameters, "
        f"{len(info.source_classes)} source classes, loaded in {seconds:.2f} s",
    )


def check_squeezenet_weights() -> Check:
    try:
        model, info = models.load_backbone(imagenet.SQUEEZENET)
    except (FileNotFoundError, models.ChecksumError, RuntimeError) as exc:
        return Check(
            "ImageNet SqueezeNet 1.1",
            False,
            str(exc).splitlines()[0],
            "pip install --force-reinstall ftkit, or `ftkit convert-squeezenet --out DIR`",
        )
    digest = models.sha256_of(models.weights_dir() / imagenet.WEIGHTS_FILE)
    return Check(
        "ImageNet SqueezeNet 1.1",
        True,
        f"sha256 {digest[:12]}... verified, {models.count_parameters(model):,} parameters, "
        f"{len(info.source_classes)} ImageNet classes",
    )


def check_photo_data() -> list[Check]:
    """The Debian packages behind the real photo targets (``ftkit.photos``)."""
    found = {
        "Tux Paint stamps": (photos.TUX_ROOT, "tuxpaint-stamps-default"),
        "Fashion-MNIST": (photos.FASHION_ROOT, "dataset-fashion-mnist"),
    }
    return [
        Check(
            name,
            root.is_dir(),
            str(root) if root.is_dir() else f"not installed ({root} missing)",
            "" if root.is_dir() else f"sudo apt-get install {package}",
            required=False,
        )
        for name, (root, package) in found.items()
    ]


def check_torchvision_cache() -> list[Check]:
    """Informational: ImageNet weights only matter for the online part of lesson 08."""
    checks = []
    for name in ("resnet18", "mobilenet_v3_small"):
        path = models.cached_weights_path(name)
        checks.append(
            Check(
                f"{name} ImageNet weights",
                path.exists(),
                f"cached at {path}" if path.exists() else "not cached (optional, needs internet)",
                "" if path.exists() else f"online: ftkit.models.load_backbone('{name}')",
                required=False,
            )
        )
    return checks


def run_checks() -> list[Check]:
    checks = [Check("python", True, platform.python_version()), *check_packages()]
    checks.append(
        Check(
            "cpu threads",
            True,
            f"torch uses {torch.get_num_threads()} thread(s); "
            f"cuda available: {torch.cuda.is_available()}",
            required=False,
        )
    )
    checks.append(check_embedded_weights())
    checks.append(check_squeezenet_weights())
    checks.extend(check_photo_data())
    checks.extend(check_torchvision_cache())
    return checks


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status (1 when any required check failed)."""
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.required else "--  ")
        lines.append(f"[{mark}] {c.name:<28} {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"       fix: {c.fix}")
    failed = [c for c in checks if c.required and not c.ok]
    lines.append(
        "The course can run on this machine."
        if not failed
        else f"{len(failed)} required check(s) failed: the course cannot run until fixed."
    )
    return "\n".join(lines), int(bool(failed))
