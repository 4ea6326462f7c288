"""runtime.onnxruntime_runner runs an exported ONNX file in onnxruntime with PyTorch's logits;
runtime.latency times runners with interleaved repetitions."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from train_fixtures import eval_resnet_with_bn_stats

from ftkit import deploy, runtime

onnxruntime = pytest.importorskip("onnxruntime")


@pytest.fixture
def model():
    return eval_resnet_with_bn_stats(3)


def test_onnxruntime_gives_pytorchs_logits_for_any_batch_size(model, tmp_path):
    path = deploy.export_onnx(model, torch.randn(2, 3, 16, 16), tmp_path / "m.onnx")
    run = runtime.onnxruntime_runner(path)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10, 3, 16, 16, generator=g)
    loader = DataLoader(TensorDataset(x, torch.zeros(10, dtype=torch.long)), batch_size=4)
    result = deploy.compare(model, run, loader)  # batches of 4, 4 and 2
    assert result["max_abs_diff"] < 1e-4 and result["same_argmax"] and result["images"] == 10
    assert run(x[:1]).shape == (1, 3)


def test_onnxruntime_uses_torchs_thread_count_unless_told(model, tmp_path, monkeypatch):
    path = deploy.export_onnx(model, torch.randn(2, 3, 16, 16), tmp_path / "m.onnx")
    seen = []
    real = onnxruntime.InferenceSession

    def spy(file, sess_options=None, **kwargs):
        seen.append(sess_options.intra_op_num_threads)
        return real(file, sess_options=sess_options, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    runtime.onnxruntime_runner(path)
    runtime.onnxruntime_runner(path, threads=1)
    assert seen == [torch.get_num_threads(), 1]


def test_a_missing_onnxruntime_names_the_install_command(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ImportError, match="pip install onnxruntime"):
        runtime.onnxruntime_runner(tmp_path / "m.onnx")


def test_latency_interleaves_the_runners_and_reports_seconds_per_image():
    order = []

    def runner(name):
        def run(x):
            order.append(name)
            return x

        return run

    times = runtime.latency({"a": runner("a"), "b": runner("b")}, torch.zeros(4, 3), repeats=5)
    assert order == ["a", "b"] * 7  # 2 warm-up rounds, then 5 timed ones, A B A B ...
    assert [len(t) for t in times.values()] == [5, 5]
    assert all(t >= 0 for values in times.values() for t in values)
    with pytest.raises(ValueError, match="repeats"):
        runtime.latency({"a": runner("a")}, torch.zeros(4, 3), repeats=0)
