"""Loss curves as PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from edgeslm.train.loop import TrainResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(result: TrainResult, path: Path, title: str) -> None:
    """Training loss per step and held-out cross-entropy; a second panel for KL to the teacher when measured."""
    plt = _pyplot()
    with_kl = any("kl" in e for e in result.evals)
    fig, axes = plt.subplots(1, 2 if with_kl else 1, figsize=(11 if with_kl else 7, 4), dpi=100, squeeze=False)
    ax = axes[0][0]
    ax.plot(result.steps, result.loss, lw=0.8, alpha=0.6, label="training loss (per step)")
    ax.plot(result.eval_steps, result.eval_loss, "o-", label="held-out cross-entropy")
    ax.set_xlabel("step")
    ax.set_ylabel("nats/token")
    ax.set_title(title)
    ax.legend()
    if with_kl:
        ax2 = axes[0][1]
        ax2.plot([e["step"] for e in result.evals], [e["kl"] for e in result.evals], "o-", color="C2")
        ax2.set_xlabel("step")
        ax2.set_ylabel("KL(teacher || student), nats/token")
        ax2.set_title("held-out KL to the teacher")
    for a in axes[0]:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_compare(runs: dict[str, TrainResult], metrics: list[tuple[str, str]], path: Path, title: str) -> None:
    """One panel per (metric key, axis label), one curve per run: held-out metrics against training tokens."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), dpi=100, squeeze=False)
    for ax, (key, label) in zip(axes[0], metrics):
        for name, r in runs.items():
            ax.plot([e["step"] for e in r.evals], [e[key] for e in r.evals], "o-", ms=3, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
