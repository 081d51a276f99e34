"""``ham_resnet`` of Xin et al. 2025 (HAM10000 and Imagenette models).

ImageNet-style stem (7x7 stride-2 conv with 64 channels, BN, ReLU, 3x3 stride-2 max-pool), three
stages of 9 BasicBlocks with widths 64/128/256 (stride 2 at the start of stages 2 and 3, 1x1 conv +
BN shortcut), adaptive average pooling and a linear classifier; PyTorch default initialisation.
About 13.64M parameters with 10 outputs.

Differences from the reference, by design: the reference always had 10 outputs (even for the
binary HAM10000 task); here the output size is the data set's ``num_classes``. The reference model
had no normalisation layer (HAM normalised in the data transform, so its noise and radii were in
normalised units; Imagenette was not normalised); here, like every model of this package, it is
wrapped as ``Sequential(Normalize, net)`` so noise and radii are in [0, 1] pixel units.
"""

from __future__ import annotations

import torch
from torch import nn

from .cifar_resnet import BasicBlock


class HamResNet(nn.Module):
    """7x7-stem ResNet with three stages of ``blocks_per_stage`` BasicBlocks (64/128/256 channels)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, blocks_per_stage: int = 9) -> None:
        super().__init__()
        if blocks_per_stage < 1:
            raise ValueError(f"blocks_per_stage must be a positive integer, got {blocks_per_stage}")
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, blocks_per_stage, stride=1)
        self.layer2 = self._make_layer(128, blocks_per_stage, stride=2)
        self.layer3 = self._make_layer(256, blocks_per_stage, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(256, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
