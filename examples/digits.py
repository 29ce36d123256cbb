"""Builds the demo model and evaluation set from scikit-learn's bundled digits images.

Nothing is downloaded: ``sklearn.datasets.load_digits`` ships the 1,797 8x8 images.
A small CNN is trained on 70% of them (seeded, a few seconds on a CPU) and exported
to ONNX; the other 30% become the labelled evaluation set, stored as the ``.npz``
that RobustEdge accepts (``x`` float32 N x 1 x 8 x 8 in [0, 1], ``y`` int64,
``input_range``).

    python examples/digits.py --out examples/data
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "digits_cnn.onnx"
DATASET_NAME = "digits_eval.npz"
TRAIN_NAME = "digits_train.npz"


@dataclass(frozen=True)
class DigitsArtifacts:
    model: Path
    dataset: Path
    train: Path
    test_accuracy: float


def load_split(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Returns (x_train, y_train, x_eval, y_eval) scaled to [0, 1], NCHW float32."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    return x_train, y_train, x_eval, y_eval


def make_network():  # -> torch.nn.Module
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train(x: np.ndarray, y: np.ndarray, *, seed: int = 0, epochs: int = 15):  # -> nn.Module
    import torch

    torch.manual_seed(seed)
    net = make_network()
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), 64):
            idx = order[start : start + 64]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
    return net.eval()


def export_onnx(net, path: Path, sample: np.ndarray, opset: int = 17) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        (torch.from_numpy(sample[:1]),),
        str(path),
        dynamo=False,  # the dynamo exporter needs onnxscript; TorchScript export does not
        opset_version=opset,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def build(out_dir: Path, *, seed: int = 0) -> DigitsArtifacts:
    """Trains, exports and writes the model, evaluation set and training set into out_dir."""
    import warnings

    import torch

    x_train, y_train, x_eval, y_eval = load_split(seed)
    net = train(x_train, y_train, seed=seed)
    with torch.no_grad():
        accuracy = float((net(torch.from_numpy(x_eval)).argmax(1).numpy() == y_eval).mean())
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / MODEL_NAME
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        export_onnx(net, model_path, x_eval)
    input_range = np.array([0.0, 1.0], dtype=np.float32)
    dataset_path = out_dir / DATASET_NAME
    np.savez(dataset_path, x=x_eval, y=y_eval, input_range=input_range)
    train_path = out_dir / TRAIN_NAME
    np.savez(train_path, x=x_train, y=y_train, input_range=input_range)
    return DigitsArtifacts(model_path, dataset_path, train_path, accuracy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    artifacts = build(args.out, seed=args.seed)
    print(f"model    {artifacts.model}")
    print(f"dataset  {artifacts.dataset} (torch accuracy {artifacts.test_accuracy:.3f})")


if __name__ == "__main__":
    main()
