"""Matplotlib figures logged to MLflow (headless Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(history: dict, path: str) -> str:
    """Training and validation loss per epoch."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in ("loss", "val_loss"):
        if key in history:
            ax.plot(np.arange(1, len(history[key]) + 1), history[key], marker="o", label=key)
    ax.set(xlabel="epoch", ylabel="loss (MSE, scaled units)", title="Training curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def forecast_vs_actual(times, actual, predicted, naive, path: str, title: str, zoom: int = 60) -> str:
    """Test-period actual values, the model's and the naive forecast; the last ``zoom`` steps
    enlarged below, where the lines can be told apart."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5))
    for ax, start in ((axes[0], 0), (axes[1], max(0, len(actual) - zoom))):
        x = np.arange(start, len(actual))
        ax.plot(x, actual[start:], label="actual", color="black", linewidth=1.2)
        ax.plot(x, naive[start:], label="naive (last value)", color="tab:gray", linewidth=0.9,
                linestyle="--")
        ax.plot(x, predicted[start:], label="model", color="tab:blue", linewidth=1.0)
        ticks = np.linspace(start, len(actual) - 1, num=min(8, len(x)), dtype=int)
        ax.set_xticks(ticks, [str(times[i])[:10] for i in ticks], rotation=20)
        ax.set(ylabel="value")
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[1].set_title(f"last {len(actual) - max(0, len(actual) - zoom)} steps")
    axes[0].legend()
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


def feature_histograms(features: dict, path: str, points_of) -> str:
    """One histogram per numeric feature from its statistics (``points_of(stats)`` gives
    ``(value, count)`` pairs), titled with mean, std and missing share."""
    numeric = [(name, s) for name, s in features.items() if s.get("count")][:12]
    cols = min(3, max(1, len(numeric)))
    rows = max(1, -(-len(numeric) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(numeric):]:
        ax.axis("off")
    for ax, (name, stats) in zip(axes.flat, numeric):
        values, counts = zip(*points_of(stats))
        ax.hist(np.clip(values, stats["min"], stats["max"]), bins=40, weights=counts, color="tab:blue")
        ax.set_title(f"{name}\nmean {stats['mean']:.4g}  std {stats['std']:.4g}  "
                     f"missing {stats['missing_fraction']:.1%}", fontsize=9)
        ax.tick_params(labelsize=8)
    return _save(fig, path)
