"""The CIFAR-sized ResNet-style network of figures 1, 3 and 8, and its ONNX export.

ResNet-20 (He et al. 2016, the CIFAR variant): a 3x3 stem, three stages of three
basic blocks at 16/32/64 channels, 1x1 projection shortcuts where the shape changes,
global average pooling, a linear head; ~0.27 M parameters, 3x32x32 inputs, 10
classes. Random seeded weights with non-trivial BatchNorm statistics: speed and
memory do not depend on training. It is the same architecture bench_bridge.py uses;
it is defined here (not imported) because that script is still being edited and
this harness must not break when its helpers change.
"""

from __future__ import annotations

import io
import warnings

import onnx
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = (3, 32, 32)
NUM_CLASSES = 10


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """The hand-written module: what a user would attack with torchattacks or ART.

    ResNet-20 for 32x32 inputs by default (widths 16/32/64, three blocks per stage);
    other widths and depths give the CIFAR ResNets other benchmarks need.
    """

    def __init__(
        self,
        classes: int = NUM_CLASSES,
        widths: tuple[int, int, int] = (16, 32, 64),
        blocks_per_stage: int = 3,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        blocks: list[nn.Module] = []
        cin = widths[0]
        for stage, cout in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def build(seed: int = 0) -> ResNet20:
    torch.manual_seed(seed)
    net = ResNet20().eval()
    with torch.no_grad():  # untrained BatchNorm (mean 0, var 1) would be folded away
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    return net


def export(net: nn.Module) -> onnx.ModelProto:
    """TorchScript exporter, opset 17, dynamic batch (eval mode folds BatchNorm)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, *INPUT_SHAPE),),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )
    return onnx.load_from_string(buffer.getvalue())


def batch(size: int, seed: int = 1) -> torch.Tensor:
    """Inputs in [0, 1] (torchattacks refuses anything else)."""
    return torch.rand(size, *INPUT_SHAPE, generator=torch.Generator().manual_seed(seed))
