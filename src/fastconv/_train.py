"""`fastconv train-digits`: the lecture's CNN (conv-ReLU-pool-conv-ReLU-pool-flatten-linear), or
with ``--model resnet-small`` a ResNet-style net with BatchNorm and residual blocks, trained on
scikit-learn's bundled 8x8 digits (no download), from a fixed seed."""

from __future__ import annotations

import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from . import nn, optim


def digits_model(seed: int = 0) -> nn.Sequential:
    """The lecture's CNN: conv-ReLU-pool twice, flatten, linear."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, 10, rng=rng))


def _basic_block(in_channels: int, channels: int, stride: int, rng: np.random.Generator) -> nn.Sequential:
    """ResNet's BasicBlock from nn parts: relu(conv-BN-ReLU-conv-BN + shortcut), the shortcut a
    strided 1x1 conv + BN where the shape changes."""
    body = nn.Sequential(nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False, rng=rng),
                         nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                         nn.Conv2d(channels, channels, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(channels))
    shortcut = None
    if stride != 1 or in_channels != channels:
        shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False, rng=rng),
                                 nn.BatchNorm2d(channels))
    return nn.Sequential(nn.Residual(body, shortcut), nn.ReLU(inplace=True))


def digits_resnet(seed: int = 0) -> nn.Sequential:
    """A ResNet-style small net: a conv-BN-ReLU stem, two residual blocks (the second halves the
    8x8 map and doubles the channels), global average pooling, linear."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(16), nn.ReLU(inplace=True),  # 16 x 8 x 8
        _basic_block(16, 16, 1, rng),                                                                    # 16 x 8 x 8
        _basic_block(16, 32, 2, rng),                                                                    # 32 x 4 x 4
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10, rng=rng))


MODELS: Dict[str, Callable[[int], nn.Sequential]] = {"cnn": digits_model, "resnet-small": digits_resnet}


def _progress(text: str) -> None:
    """A progress bar redrawn in place on a terminal; elsewhere only the finished lines."""
    if sys.stdout.isatty():
        sys.stdout.write("\r" + text)
        sys.stdout.flush()
    elif text.endswith("\n"):
        sys.stdout.write(text)


def train_digits(epochs: int = 20, batch_size: int = 32, lr: float = 3e-3, seed: int = 0,
                 write: Callable[[str], None] = print, model: str = "cnn") -> Dict[str, object]:
    """Train ``model`` (a name in ``MODELS``) on 80% of the digits, report accuracy on the other
    20%; returns the history."""
    if model not in MODELS:
        msg = f"train-digits: `model` must be one of {', '.join(MODELS)}, got {model!r}"
        raise ValueError(msg)
    try:
        from sklearn.datasets import load_digits
    except ImportError as error:  # an optional extra
        msg = "train-digits needs scikit-learn: pip install 'fastconv[train]'"
        raise RuntimeError(msg) from error
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # N x 1 x 8 x 8, in [0, 1]
    labels = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    network = MODELS[model](seed)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(network.parameters(), lr=lr)
    losses: List[float] = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        network.train()
        shuffled = rng.permutation(train)
        total, batches = 0.0, 0
        steps = -(-len(shuffled) // batch_size)
        for step, first in enumerate(range(0, len(shuffled), batch_size), 1):
            batch = shuffled[first:first + batch_size]
            optimizer.zero_grad()
            loss = criterion(network(images[batch]), labels[batch])
            network.backward(criterion.backward(), need_input=False)
            optimizer.step()
            total, batches = total + loss, batches + 1
            bar = "#" * (20 * step // steps)
            _progress(f"epoch {epoch:2d}/{epochs} [{bar:20s}] loss {total / batches:.4f}")
        losses.append(total / batches)
        accuracy = evaluate(network, images[test], labels[test])
        _progress(f"epoch {epoch:2d}/{epochs} [{'#' * 20}] loss {losses[-1]:.4f}  test accuracy {accuracy:.2%}\n")
    seconds = time.perf_counter() - start
    accuracy = evaluate(network, images[test], labels[test])
    write(f"test accuracy {accuracy:.2%} on {len(test)} held-out digits after {epochs} epochs, {seconds:.1f} s")
    return {"accuracy": accuracy, "seconds": seconds, "losses": losses, "model": network}


def evaluate(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    return float((model(images).argmax(axis=1) == labels).mean())


def plot_losses(losses: List[float], path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        msg = "--plot needs matplotlib: pip install matplotlib"
        raise RuntimeError(msg) from error
    figure, axes = plt.subplots(figsize=(5, 3))
    axes.plot(range(1, len(losses) + 1), losses, marker="o")
    axes.set_xlabel("epoch")
    axes.set_ylabel("training loss")
    axes.set_title("fastconv train-digits")
    figure.tight_layout()
    figure.savefig(path)


def main(epochs: int, seed: int, plot: Optional[str], model: str = "cnn") -> int:
    try:
        history = train_digits(epochs=epochs, seed=seed, model=model)
        if plot:
            plot_losses(history["losses"], plot)  # type: ignore[arg-type]
            print(f"loss curve written to {plot}")
    except RuntimeError as error:
        print(f"fastconv train-digits: {error}", file=sys.stderr)
        return 1
    return 0
