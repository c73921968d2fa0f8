"""The training curves of one audio × visual combination: loss and accuracy per epoch, on the
training windows and on the validation pairs, one line per seed, from the `training.csv` logs that
training/trainer.py writes (columns epoch, train_loss, train_accuracy, val_loss, val_accuracy, …)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from unisync_model.io.figures import pyplot, save_png

COLUMNS = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]


def read_logs(paths: list[str | Path]) -> dict[str, pd.DataFrame]:
    """Each log by its seed (the `seed<N>` folder it sits in, else its path)."""
    logs = {}
    for path in paths:
        log = pd.read_csv(path)
        missing = [c for c in COLUMNS if c not in log]
        if missing:
            raise ValueError(f"{path}: not a training log, it lacks the columns {missing}")
        seed = re.search(r"seed(\d+)", str(Path(path).parent.name))
        logs[f"seed {seed.group(1)}" if seed else str(path)] = log
    return logs


def plot_curves(paths: list[str | Path], title: str, out: str | Path) -> None:
    plt = pyplot()
    logs = read_logs(paths)
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (name, log) in enumerate(sorted(logs.items())):
        colour = f"C{k}"
        loss_ax.plot(log["epoch"], log["train_loss"], color=colour, label=f"{name}: train")
        loss_ax.plot(log["epoch"], log["val_loss"], color=colour, linestyle="--", label=f"{name}: validation")
        acc_ax.plot(log["epoch"], 100 * log["train_accuracy"], color=colour, label=f"{name}: train")
        acc_ax.plot(log["epoch"], 100 * log["val_accuracy"], color=colour, linestyle="--",
                    label=f"{name}: validation (binary)")
    loss_ax.set(xlabel="epoch", ylabel="margin BCE", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy, %", title="accuracy (threshold 0.5)")
    acc_ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    save_png(fig, out)
