"""``SmallResNet``: torchvision's ResNet anatomy, sized for 32x32 images on a laptop CPU.

The embedded backbone is one of these. It uses torchvision's attribute names (``conv1, bn1,
layer1..layer4, avgpool, fc``) and its ``BasicBlock``, so what a learner does to it is what they
would do to ``torchvision.models.resnet18``.

>>> SmallResNet(10).fc
Linear(in_features=128, out_features=10, bias=True)
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock


class SmallResNet(nn.Module):
    """A ResNet with torchvision's anatomy, sized for 32x32 images on a laptop CPU.

    A 3x3 stride-1 stem with no max-pool (tiny images), one BasicBlock per stage by default,
    widths doubling per stage. Forward is torchvision's ``ResNet._forward_impl``.
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        blocks: tuple[int, ...] = (1, 1, 1, 1),
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        in_width = widths[0]
        for i, (width, depth) in enumerate(zip(widths, blocks), start=1):
            stride = 1 if i == 1 else 2
            setattr(self, f"layer{i}", _stage(in_width, width, depth, stride))
            in_width = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(in_width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, 3, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, num_classes)


def _stage(in_width: int, width: int, depth: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or in_width != width:
        downsample = nn.Sequential(
            nn.Conv2d(in_width, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
        )
    layers = [BasicBlock(in_width, width, stride, downsample)]
    layers += [BasicBlock(width, width) for _ in range(depth - 1)]
    return nn.Sequential(*layers)
