"""Matplotlib figures logged to MLflow (headless Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(history: dict, path: str, ylabel: str = "loss") -> str:
    """Training and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=key)
    ax.set(xlabel="epoch", ylabel=ylabel, title="Training curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def forecast_vs_actual(times, actual, predicted, naive, path: str, title: str) -> str:
    """Test-period actual values, the model's forecast and the naive forecast."""
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(actual))
    ax.plot(x, actual, label="actual", color="black", linewidth=1.2)
    ax.plot(x, naive, label="naive (last value)", color="tab:gray", linewidth=0.8, alpha=0.8)
    ax.plot(x, predicted, label="model", color="tab:blue", linewidth=1.0)
    ticks = np.linspace(0, len(x) - 1, num=min(8, len(x)), dtype=int)
    ax.set_xticks(ticks, [str(times[i])[:10] for i in ticks], rotation=20)
    ax.set(title=title, ylabel="value")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def residuals(times, errors, path: str) -> str:
    """Forecast errors over time and their histogram."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2, 1]})
    a.plot(np.arange(len(errors)), errors, linewidth=0.8)
    a.axhline(0, color="black", linewidth=0.8)
    ticks = np.linspace(0, len(errors) - 1, num=min(6, len(errors)), dtype=int)
    a.set_xticks(ticks, [str(times[i])[:10] for i in ticks], rotation=20)
    a.set(title="Residuals (actual - forecast)")
    b.hist(errors, bins=40, color="tab:blue", alpha=0.8)
    b.set(title="Residual distribution")
    return _save(fig, path)


def confusion_matrix(confusion, labels, path: str, title: str) -> str:
    """Counts of true (rows) against predicted (columns) labels, with row-normalized shading."""
    counts = np.asarray(confusion)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    size = 2.5 + 0.6 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    return _save(fig, path)


def labeled_series(values, true, predicted, classes, path: str, title: str) -> str:
    """A series (one line per feature) above two label strips: true and predicted label per
    step, one color per class."""
    values = np.asarray(values, float).reshape(len(true), -1)
    index = {label: i for i, label in enumerate(classes)}
    colors = plt.get_cmap("tab10")
    fig, (top, strips) = plt.subplots(2, 1, figsize=(12, 4.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    steps = np.arange(len(true))
    for j in range(values.shape[1]):
        top.plot(steps, values[:, j], linewidth=0.8)
    top.set(title=title, ylabel="value")
    top.grid(alpha=0.3)
    rows = np.array([[index[label] for label in true], [index[label] for label in predicted]])
    cmap = ListedColormap([colors(i % 10) for i in range(len(classes))])
    strips.imshow(rows, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5,
                  vmax=len(classes) - 0.5, extent=(-0.5, len(true) - 0.5, 1.5, -0.5))
    strips.set_yticks([0, 1], ["true", "predicted"])
    strips.set_xlabel("step")
    handles = [Patch(color=colors(i % 10), label=str(c))
               for i, c in enumerate(classes)]
    strips.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="label")
    return _save(fig, path)
