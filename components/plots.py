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


def error_rate_by_group(rates: dict, baseline: float, path: str, title: str) -> str:
    """One bar per group (e.g. speaker), worst first, with the baseline's rate as a line."""
    names = sorted(rates, key=lambda k: -rates[k])
    fig, ax = plt.subplots(figsize=(max(6, 0.25 * len(names) + 2), 4))
    ax.bar(np.arange(len(names)), [100 * rates[n] for n in names], color="tab:blue")
    ax.axhline(100 * baseline, color="tab:red", linestyle="--", label=f"baseline {baseline:.1%}")
    ax.set_xticks(np.arange(len(names)), names, rotation=90, fontsize=7)
    ax.set(ylabel="character error rate (%)", title=title)
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def spectrogram(features: np.ndarray, path: str, title: str) -> str:
    """Feature frames ``[frames, channels]`` as an image, time left to right."""
    fig, ax = plt.subplots(figsize=(8, 3.2))
    image = ax.imshow(features.T, origin="lower", aspect="auto", cmap="magma")
    fig.colorbar(image, ax=ax, label="normalized value")
    ax.set(xlabel="frame", ylabel="channel", title=title)
    ax.title.set_fontsize(9)
    return _save(fig, path)
