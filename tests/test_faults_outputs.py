"""Never clobber, never half-write: exporters, checksummed weights and ``ftkit pretrain`` keep an
existing file unless asked, check the destination before the work, and leave the old file
intact (and no temporary file behind) when writing fails half-way."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch

from ftkit import deploy, models, outputs
from ftkit.checks import InputError
from ftkit.models import BackboneInfo
from ftkit.source import pretrain as recipe
from ftkit.tools import cli

INFO = BackboneInfo("tiny", 16, (0.5, 0.4, 0.3), (0.25, 0.2, 0.3))
CLASSES = ["a", "b", "c"]
EXAMPLE = torch.randn(2, 3, 16, 16)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return models.SmallResNet(3, widths=(4, 8, 8, 8)).eval()


def digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def export_program(m, path, **kw):
    return deploy.export_program(m, EXAMPLE, path, **kw)


def export_onnx(m, path, **kw):
    return deploy.export_onnx(m, EXAMPLE, path, **kw)


def save_weights(m, path, **kw):
    return deploy.save_weights(m, path, classes=CLASSES, info=INFO, **kw)


WRITERS = [
    ("export_program", export_program, "m.pt2"),
    ("export_onnx", export_onnx, "m.onnx"),
    ("save_weights", save_weights, "w.pt"),
]


@pytest.mark.parametrize("write, name", [w[1:] for w in WRITERS], ids=[w[0] for w in WRITERS])
def test_an_existing_file_is_kept_unless_overwrite(model, tmp_path, write, name):
    (tmp_path / name).write_bytes(b"my earlier work")
    if name.endswith(".pt"):
        (tmp_path / f"{name}.sha256").write_text("abc  w.pt\n")
    before = digests(tmp_path)
    with pytest.raises(InputError) as err:
        write(model, tmp_path / name)
    for word in (
        "already exists",
        "does not overwrite",
        "got",
        str(tmp_path / name),
        "overwrite=True",
    ):
        assert word in str(err.value)
    assert digests(tmp_path) == before  # untouched, and no temporary file left
    write(model, tmp_path / name, overwrite=True)
    assert (tmp_path / name).read_bytes() != b"my earlier work"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)


def test_save_weights_refuses_when_only_the_checksum_file_exists(model, tmp_path):
    (tmp_path / "w.pt.sha256").write_text("keep me\n")
    with pytest.raises(InputError, match="w.pt.sha256"):
        save_weights(model, tmp_path / "w.pt")
    assert not (tmp_path / "w.pt").exists()
    assert (tmp_path / "w.pt.sha256").read_text() == "keep me\n"


def _half_then_fail(path, *args, **kwargs):
    target = next(a for a in (path, *args) if isinstance(a, (str, Path)))
    Path(target).write_bytes(b"half a fi")
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize(
    "write, name, patch",
    [
        (export_program, "m.pt2", ("export", "save")),
        (export_onnx, "m.onnx", ("onnx", "export")),
        (save_weights, "w.pt", ("torch", "save")),
    ],
    ids=["export_program", "export_onnx", "save_weights"],
)
def test_a_write_that_fails_half_way_leaves_the_old_file(
    model, tmp_path, monkeypatch, write, name, patch
):
    (tmp_path / name).write_bytes(b"the good old file")
    if patch == ("export", "save"):
        monkeypatch.setattr(torch.export, "export", lambda *a, **k: "program")
        monkeypatch.setattr(torch.export, "save", lambda program, f: _half_then_fail(f))
    elif patch == ("onnx", "export"):
        monkeypatch.setattr(torch.onnx, "export", lambda m, args, f, **k: _half_then_fail(f))
    else:
        monkeypatch.setattr(torch, "save", lambda obj, f: _half_then_fail(f))
    with pytest.raises(OSError, match="No space left"):
        write(model, tmp_path / name, overwrite=True)
    assert (tmp_path / name).read_bytes() == b"the good old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temporary file left


@pytest.mark.parametrize(
    "path, words",
    [
        ("folder", ["is a folder, not a file", "model.pt"]),
        ("blocker/m.pt", ["a file is in the way", "blocker"]),
        ("/proc/ftkit-no/m.pt", ["cannot write to the output folder", "/proc/ftkit-no"]),
    ],
)
def test_a_bad_destination_is_refused_before_exporting(model, tmp_path, path, words):
    (tmp_path / "folder").mkdir()
    (tmp_path / "blocker").write_text("a file")
    with pytest.raises(InputError) as err:
        export_program(model, tmp_path / path)
    for word in words + ["got", "Fix:"]:
        assert word in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "example, words",
    [
        (torch.randn(1, 3, 16, 16), ["at least 2 images", "(1, 3, 16, 16)", "repeat"]),
        (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), ["floating point", "torch.uint8"]),
        (torch.randn(3, 16, 16), ["4 dimension", "(3, 16, 16)"]),
        ([1, 2], ["torch.Tensor", "list"]),
    ],
)
def test_a_bad_example_is_refused_by_name(model, tmp_path, example, words):
    with pytest.raises(InputError) as err:
        deploy.export_onnx(model, example, tmp_path / "m.onnx")
    for word in words:
        assert word in str(err.value), str(err.value)
    assert not list(tmp_path.iterdir())


def test_export_restores_each_modules_mode(model, tmp_path):
    model.train()
    model.layer1.eval()  # frozen batch norm in layer1, the rest training
    deploy.export_onnx(model, EXAMPLE, tmp_path / "m.onnx")
    assert model.training and not model.layer1.training and model.layer4.training


def test_classes_that_do_not_match_the_head_are_refused(model, tmp_path):
    with pytest.raises(InputError, match="2 names for 3 outputs"):
        deploy.save_weights(model, tmp_path / "w.pt", classes=["a", "b"], info=INFO)
    with pytest.raises(InputError, match="list of class names"):
        deploy.save_weights(model, tmp_path / "w.pt", classes="abc", info=INFO)
    assert not list(tmp_path.iterdir())


def test_load_weights_without_its_checksum_says_so(model, tmp_path):
    save_weights(model, tmp_path / "w.pt")
    (tmp_path / "w.pt.sha256").unlink()
    with pytest.raises(FileNotFoundError, match="w.pt.sha256 beside it: both files are needed"):
        deploy.load_weights(tmp_path / "w.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt with nope.pt.sha256"):
        deploy.load_weights(tmp_path / "nope.pt")


def test_predict_names_a_missing_image_and_a_class_list_that_does_not_fit(model, tmp_path):
    with pytest.raises(InputError, match="cannot read .*missing.png: No such file"):
        deploy.predict(model, tmp_path / "missing.png", info=INFO, classes=CLASSES)
    from PIL import Image

    Image.new("RGB", (20, 20), (9, 9, 9)).save(tmp_path / "x.png")
    with pytest.raises(InputError, match="2 names for 3 outputs"):
        deploy.predict(model, tmp_path / "x.png", info=INFO, classes=["a", "b"])


# --- ftkit pretrain -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--steps", "-5"], ["--steps", "at least 1", "got -5"]),
        (["--steps", "0"], ["--steps", "got 0"]),
        (["--steps", "1.5"], ["--steps", "whole number", "'1.5'"]),
        (["--batch-size", "0"], ["--batch-size", "got 0"]),
        (["--seed", "-1"], ["--seed", "at least 0", "got -1"]),
        (["--threads", "0"], ["--threads", "got 0"]),
    ],
)
def test_pretrain_cli_refuses_bad_numbers(tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["pretrain", "--out", str(tmp_path / "out"), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "out").exists()


def test_pretrain_cli_checks_out_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(recipe, "_train", lambda *a, **k: pytest.fail("trained before checking"))
    (tmp_path / "blocker").write_text("a file")
    assert cli.main(["pretrain", "--out", str(tmp_path / "blocker" / "out"), "--steps", "5"]) == 2
    assert "a file is in the way" in capsys.readouterr().err
    assert cli.main(["pretrain", "--out", "/proc/ftkit-no", "--steps", "5"]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err
    out = tmp_path / "weights"
    out.mkdir()
    for name in recipe.OUTPUT_FILES:
        (out / name).write_text(f"earlier {name}")
    before = digests(out)
    assert cli.main(["pretrain", "--out", str(out), "--steps", "5"]) == 2
    message = capsys.readouterr().err
    assert "already exists" in message and "--force" in message and "MODEL_CARD.md" in message
    assert digests(out) == before


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("steps", -5, ["steps", "got -5"]),
        ("lr", math.nan, ["lr must be", "got nan"]),
        ("warmup_steps", 50, ["warmup_steps", "at most 10", "got 50"]),
        ("label_smoothing", 1.0, ["label_smoothing", "got 1.0"]),
        ("image_size", 0, ["image_size", "got 0"]),
        ("widths", (16, 32), ["one entry per stage"]),
    ],
)
def test_pretrain_config_is_checked_before_training(tmp_path, field, value, words):
    cfg = recipe.PretrainConfig(**{"steps": 10, "warmup_steps": 1, field: value})
    with pytest.raises(InputError) as err:
        recipe.pretrain(cfg, tmp_path / "out", progress=False)
    for word in words + ["got", "Fix:"]:
        assert word in str(err.value), str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.fixture
def quick_recipe(monkeypatch):
    """The real recipe on 2 steps, with the 4096-image normalisation statistics stubbed."""
    monkeypatch.setattr(recipe, "source_statistics", lambda size, seed: ([0.5] * 3, [0.25] * 3))
    return recipe.PretrainConfig(steps=2, batch_size=4, warmup_steps=1, val_per_class=1)


def test_pretrain_force_replaces_and_a_late_failure_keeps_the_old_files(
    tmp_path, quick_recipe, monkeypatch
):
    out = tmp_path / "weights"
    out.mkdir()
    for name in recipe.OUTPUT_FILES:
        (out / name).write_text(f"earlier {name}")
    before = digests(out)
    monkeypatch.setattr(recipe, "model_card", lambda card: (_ for _ in ()).throw(OSError("full")))
    with pytest.raises(OSError, match="full"):
        recipe.pretrain(quick_recipe, out, progress=False, force=True)
    assert digests(out) == before  # nothing half-written, no staging folder left
    monkeypatch.undo()
    monkeypatch.setattr(recipe, "source_statistics", lambda size, seed: ([0.5] * 3, [0.25] * 3))
    card = recipe.pretrain(quick_recipe, out, progress=False, force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(recipe.OUTPUT_FILES)
    assert models.sha256_of(out / models.CHECKPOINT_FILE) == card["sha256"]
    models.load_checkpoint(out / models.CHECKPOINT_FILE)  # verifiable


def test_atomic_path_never_leaves_a_partial_file(tmp_path):
    with pytest.raises(RuntimeError), outputs.atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert not list(tmp_path.iterdir())


def test_bench_checks_its_json_path_before_running(tmp_path, capsys, monkeypatch):
    from ftkit.bench import perf, runner

    monkeypatch.setattr(runner, "plan", lambda *a: pytest.fail("ran before checking --json"))
    monkeypatch.setattr(perf, "perf", lambda **k: pytest.fail("ran before checking --json"))
    (tmp_path / "blocker").write_text("a file")
    for extra in ([], ["--perf"]):
        code = cli.main(["bench", "--json", str(tmp_path / "blocker" / "r.json"), *extra])
        assert code == 2 and "a file is in the way" in capsys.readouterr().err
