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
    """Loss curves per epoch, one line per ``history`` key (e.g. ``loss``, ``val_loss``)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, values in history.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=key)
    ax.set(xlabel="epoch", ylabel=ylabel, title="Training curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bits_per_position(model_bits, baseline_bits: float, path: str, baseline: str = "unigram") -> str:
    """Mean bits per character at each position of the test windows (longer context to the
    right) against a baseline that ignores context."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    x = np.arange(1, len(model_bits) + 1)
    ax.plot(x, model_bits, label=f"model (mean {np.mean(model_bits):.3f})", color="tab:blue")
    ax.axhline(baseline_bits, color="tab:gray", linestyle="--", label=f"{baseline} ({baseline_bits:.3f})")
    ax.set(xlabel="characters of context", ylabel="bits per character",
           title="Test split: bits per character by position")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def tuning_history(values, path: str, objective: str) -> str:
    """Each finished trial's objective and the best so far."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, len(values) + 1)
    ax.plot(x, values, "o", label="trial")
    ax.plot(x, np.minimum.accumulate(values), "-", color="tab:green", label="best so far")
    ax.set(xlabel="finished trial", ylabel=objective, title="Tuner")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def forecast_vs_actual(times, actual, predicted, baseline, path: str, title: str, zoom: int = 60,
                       baseline_label: str = "naive (last value)", reference=None,
                       reference_label: str = "AutoETS (reference)", band=None) -> str:
    """Test-period actual values, the model's and a baseline's forecast (and the statistical
    reference's, and a shaded ``band = (lower, upper, label)`` interval, if given); the last
    ``zoom`` steps enlarged below, where the lines can be told apart."""
    fig, axes = plt.subplots(2, 1, figsize=(10, 6.5))
    for ax, start in ((axes[0], 0), (axes[1], max(0, len(actual) - zoom))):
        x = np.arange(start, len(actual))
        if band is not None:
            ax.fill_between(x, band[0][start:], band[1][start:], color="tab:blue", alpha=0.18,
                            linewidth=0, label=band[2])
        ax.plot(x, actual[start:], label="actual", color="black", linewidth=1.2)
        ax.plot(x, baseline[start:], label=baseline_label, color="tab:gray", linewidth=0.9,
                linestyle="--")
        if reference is not None:
            ax.plot(x, reference[start:], label=reference_label, color="tab:orange",
                    linewidth=0.9, linestyle=":")
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


def tradeoff(rows: list, metric: str, reference: float, limit: float, path: str) -> str:
    """The compressed variants' ``metric`` against size on disk and batch-1 latency, with the
    float model's value and the budget's limit as horizontal lines."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colors = {"gpu": "tab:blue", "edge": "tab:orange"}
    for ax, key, scale, label in ((axes[0], "size_bytes", 1 / 1024, "size on disk (KB, log)"),
                                  (axes[1], "latency_p50_ms", 1.0, "batch-1 latency p50 (ms, log)")):
        for target, color in colors.items():
            points = [r for r in rows if r["target"] == target]
            if points:
                ax.scatter([r[key] * scale for r in points], [r["metrics"][metric] for r in points],
                           color=color, label=f"{target} variants", zorder=3)
        ordered = sorted(rows, key=lambda r: (r[key], r["metrics"][metric]))
        for i, r in enumerate(ordered):   # staggered, so labels of coinciding points stay legible
            ax.annotate(r["name"], (r[key] * scale, r["metrics"][metric]), fontsize=7,
                        xytext=(4, (3, 12, 21, -10)[i % 4]), textcoords="offset points")
        ax.axhline(reference, color="black", linewidth=0.8, label="float model")
        ax.axhline(limit, color="tab:red", linewidth=0.8, linestyle="--", label="budget limit")
        ax.set_xscale("log")
        ax.set(xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel=f"test {metric}", title=f"{metric} vs size")
    axes[1].set(title=f"{metric} vs latency (CPU)")
    axes[0].legend(fontsize=8)
    return _save(fig, path)
