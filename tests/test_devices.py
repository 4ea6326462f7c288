import torch
from torch import nn

from ftkit import training
from ftkit.devices import device_of, resolve_device, to_device


def test_resolve_device_honours_a_choice_and_defaults_to_what_exists():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device().type == expected
    assert training.resolve_device is resolve_device  # the name lessons use still works


def test_device_of_a_module_without_parameters_is_the_cpu():
    assert device_of(nn.ReLU()) == torch.device("cpu")
    assert device_of(nn.Linear(2, 2)) == torch.device("cpu")


def test_to_device_makes_label_tensors():
    x, y = to_device(torch.zeros(2, 3), [1, 2], torch.device("cpu"))
    assert y.dtype == torch.int64 and y.tolist() == [1, 2] and x.shape == (2, 3)
