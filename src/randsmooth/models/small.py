"""``digits_cnn``: a small, fast CNN for the scikit-learn digits (1x8x8, or 3x32x32 when upsampled).

conv3x3(32)-BN-ReLU, conv3x3(64)-BN-ReLU, max-pool 2, conv3x3(64)-BN-ReLU, adaptive average pool
to 2x2, linear classifier: about 58k parameters for 1 input channel and 10 classes, whatever the
input size (>= 2x2).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class DigitsCNN(nn.Module):
    """Three-convolution network with a 2x2 adaptive pool before the classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be a positive integer, got {width}")
        self.features = nn.Sequential(
            *_conv_bn_relu(in_channels, width),
            *_conv_bn_relu(width, 2 * width),
            nn.MaxPool2d(2),
            *_conv_bn_relu(2 * width, 2 * width),
            nn.AdaptiveAvgPool2d(2),
        )
        self.fc = nn.Linear(2 * width * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))
