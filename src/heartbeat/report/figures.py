"""Figures from the report's tables, all in one plotting library: matplotlib.

The notebook shows them and the PDF summary embeds the same images, so every figure renders
wherever a notebook is opened (GitHub, nbviewer, a viewer without JavaScript): static PNG,
not a plotly figure that needs a browser to draw. Every function takes tables from
:mod:`heartbeat.report.tables` (or beats) and returns a figure; nothing here reads files.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from heartbeat.report import tables

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
STATUS_MARKERS = {tables.COMPLETED: ("o", "circle"), tables.STOPPED: ("x", "x")}

#: the report's look, applied inside each drawing function only (matplotlib.rc_context): importing this
#: module changes nothing in the caller's matplotlib, and a notebook's own settings stay its own
STYLE = {"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "legend.fontsize": 6,
         "xtick.labelsize": 6.5, "ytick.labelsize": 6.5, "axes.spines.top": False,
         "axes.spines.right": False, "savefig.dpi": 200, "svg.hashsalt": "heartbeat"}


def styled(draw):
    """Run a drawing function inside the report's style (fonts and spines are fixed as artists are made)."""
    @functools.wraps(draw)
    def inside_style(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return inside_style


def subplots(nrows: int = 1, ncols: int = 1, figsize=None, **kw):
    """A figure of its own (matplotlib.figure.Figure, not pyplot's: no global list of open figures, no
    backend to choose) and its axes, as pyplot.subplots returns them."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def colors(names) -> dict[str, str]:
    """A fixed colour per name: the model families keep theirs whatever else is present."""
    names = list(dict.fromkeys(names))
    out = {n: PALETTE[i] for i, n in enumerate(tables.FAMILY_ORDER) if n in names}
    rest = iter(c for c in PALETTE * 3 if c not in out.values())
    return {n: out.get(n) or next(rest) for n in names}


def short(param: str) -> str:
    """``CNN1D.kernel_size`` -> ``kernel_size``; the fit loop's ``fit.learning_rate`` -> ``learning_rate``."""
    return param.rsplit(".", 1)[-1]


@styled
def save(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG (no timestamp in the file: the same inputs give the same bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None})
    return path


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=7, color="0.4")
    ax.set_axis_off()


# ================================================================ static (matplotlib)
@styled
def mpl_recall(per_valid: pd.DataFrame, per_test: pd.DataFrame | None = None, size=(3.6, 2.3)):
    """Per-class recall of each model (bars: valid split; black ticks: test split where scored)."""
    fig, ax = subplots(figsize=size)
    if per_valid.empty:
        _empty(ax, "no per-class recall in models/ or results/output.csv")
        return fig
    classes = list(dict.fromkeys(per_valid["class"]))
    models = list(dict.fromkeys(per_valid["model"]))
    col = colors(models)
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        sub = per_valid[per_valid["model"] == model].set_index("class")
        x = np.arange(len(classes)) + (j - (len(models) - 1) / 2) * width
        ax.bar(x, [sub["recall"].get(c, np.nan) for c in classes], width, label=model, color=col[model])
        if per_test is not None and not per_test.empty:
            test = per_test[per_test["model"] == model].set_index("class")["recall"]
            ax.scatter(x, [test.get(c, np.nan) for c in classes], marker="_", s=40, color="black", linewidths=1.2,
                       zorder=3, label="test" if j == 0 else None)
    ax.set_xticks(np.arange(len(classes)), classes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title("per-class recall (valid; ticks: test)")
    # beside the axes, never over its labels; one column per 8 models
    ax.legend(ncol=max(1, math.ceil((len(models) + 1) / 8)), frameon=False, loc="center left",
              bbox_to_anchor=(1.01, 0.5))
    return fig


@styled
def mpl_importances(imps: dict[str, pd.Series], max_params: int = 6, size=(7.2, 1.55)):
    """Optuna's fANOVA importances, one small panel per search."""
    imps = {k: v for k, v in imps.items() if len(v)}
    if not imps:
        fig, ax = subplots(figsize=(size[0], 0.6))
        _empty(ax, "importances: too few scored trials in any search")
        return fig
    n = len(imps)
    per_row = min(n, 5)
    rows = math.ceil(n / per_row)
    width = size[0] * min(1.0, 0.2 * per_row + 0.1)  # a panel keeps its width however many there are
    fig, axes = subplots(rows, per_row, figsize=(width, size[1] * rows), squeeze=False)
    col = colors(imps)
    for ax, (name, imp) in zip(axes.flat, imps.items()):
        imp = imp.head(max_params)[::-1]
        ax.barh([short(p) for p in imp.index], imp.values, color=col[name])
        ax.set_xlim(0, 1)
        ax.set_title(name)
        ax.tick_params(axis="y", labelsize=6)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    fig.supxlabel("importance (fANOVA, sums to 1 per search)", fontsize=6.5)
    fig.tight_layout(pad=0.3, w_pad=0.6)
    return fig


@styled
def mpl_asha(trials: pd.DataFrame, objective: str = "objective", size=(3.4, 2.3)):
    """Each scored trial's best objective against the epochs it ran before ASHA stopped it (or it ended)."""
    fig, ax = subplots(figsize=size)
    ok = tables.scored(trials) if len(trials) else trials
    if ok.empty:
        _empty(ax, "no scored trial in results/*/trials.csv")
        return fig
    col = colors(ok["experiment"])
    rng = np.random.default_rng(0)  # a fixed jitter: trials on the same epoch stay apart, the image stays the same
    for name, sub in ok.groupby("experiment", sort=False):
        for status, (marker, _) in STATUS_MARKERS.items():
            part = sub[sub["status"] == status]
            if len(part):
                ax.scatter(part["epochs"] + rng.uniform(-0.2, 0.2, len(part)), part["objective"], s=12,
                           marker=marker, color=col[name], linewidths=0.9,
                           label=name if status == tables.COMPLETED or (sub["status"] != tables.COMPLETED).all()
                           else None)
    ax.set_xlabel("epochs run (o completed, x stopped by ASHA)")
    ax.set_ylabel(f"best valid {objective}")
    ax.set_title("how far trials got under ASHA")
    ax.legend(frameon=False, ncol=3, loc="lower left", bbox_to_anchor=(0, -0.42))
    return fig


@styled
def mpl_class_counts(counts: pd.DataFrame, size=(3.4, 2.2)):
    """Beats per class in train and test (log scale: the classes differ by orders of magnitude)."""
    fig, ax = subplots(figsize=size)
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["train"], 0.4, label="train", color=PALETTE[0])
    ax.bar(x + 0.2, counts["test"], 0.4, label="test", color=PALETTE[1])
    ax.set_xticks(x, counts["class"])
    ax.set_yscale("log")
    ax.set_ylabel("beats")
    ax.legend(frameon=False)
    ax.set_title("class distribution")
    return fig


@styled
def mpl_mean_beats(beats, size=(7.2, 1.6)):
    """Mean plus or minus one standard deviation of the beats of each class."""
    k = beats.num_classes
    fig, axes = subplots(1, k, figsize=size, sharey=True, squeeze=False)
    t = np.arange(beats.X.shape[1]) / 125.0
    for i, (ax, c) in enumerate(zip(axes.flat, beats.classes)):
        X = beats.X[beats.y == i]
        if not len(X):
            _empty(ax, f"{c}: no beat")
            continue
        mean, std = X.mean(0), X.std(0)
        ax.fill_between(t, mean - std, mean + std, color=PALETTE[i], alpha=0.25, linewidth=0)
        ax.plot(t, mean, color=PALETTE[i], linewidth=1)
        ax.set_title(f"{c} (n={len(X)})")
        ax.set_xlabel("s")
    fig.tight_layout(pad=0.3)
    return fig


@styled
def mpl_confusions(confs: dict[str, pd.DataFrame], size_per=1.8):
    """Row-normalised confusion matrices (true class in rows), counts written in the cells."""
    n = max(len(confs), 1)
    fig, axes = subplots(1, n, figsize=(size_per * n, size_per), squeeze=False)
    if not confs:
        _empty(axes[0, 0], "no model folder to predict with")
        return fig
    for ax, (tag, cm) in zip(axes.flat, confs.items()):
        norm = cm.div(cm.sum(1).replace(0, np.nan), axis=0).fillna(0)
        ax.imshow(norm.values, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(cm.values):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=5,
                    color="white" if norm.values[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(cm.columns)), cm.columns)
        ax.set_yticks(range(len(cm.index)), cm.index)
        ax.set_xlabel("predicted")
        ax.set_title(tag)
    axes[0, 0].set_ylabel("true")
    fig.tight_layout(pad=0.3)
    return fig


@styled
def mpl_precision_recall(per: pd.DataFrame, size=(3.4, 2.4)):
    """Precision against recall of each class for each model, with lines of equal F2."""
    fig, ax = subplots(figsize=size)
    per = per.dropna(subset=["precision"])
    if per.empty:
        _empty(ax, "no per-class precision in models/*/metrics.json")
        return fig
    for level in (0.5, 0.7, 0.9):
        r, p = _iso_f2(level)
        ax.plot(r, p, color="0.85", linewidth=0.7)
        ax.text(r[-1], p[-1], f"F2={level}", fontsize=5, color="0.5", va="bottom", ha="right")
    col = colors(per["class"])
    markers = {m: "osD^v<>ph*PX8"[i % 13] for i, m in enumerate(dict.fromkeys(per["model"]))}  # any number of models
    for _, r in per.iterrows():
        ax.scatter(r["recall"], r["precision"], color=col[r["class"]], marker=markers[r["model"]], s=14)
    for c, cc in col.items():
        ax.scatter([], [], color=cc, label=c, s=10)
    for m, mk in markers.items():
        ax.scatter([], [], color="0.3", marker=mk, label=m, s=10)
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title="precision against recall")
    ax.legend(frameon=False, fontsize=5, ncol=2, loc="lower left")
    return fig


@styled
def mpl_objective_time(hist: pd.DataFrame, trials: pd.DataFrame, size=(7.2, 2.0)):
    """The objective of every epoch of every trial against wall-clock minutes, one panel per search.

    Without per-epoch history (Ray's folders and MLflow absent), each trial's best objective
    against its own wall time from trials.csv.
    """
    names = list(dict.fromkeys(trials["experiment"])) if len(trials) else []
    fig, axes = subplots(1, max(len(names), 1), figsize=size, squeeze=False, sharey=True)
    if not names:
        _empty(axes[0, 0], "no search results")
        return fig
    col = colors(names)
    for ax, name in zip(axes.flat, names):
        h = hist[hist["experiment"] == name] if len(hist) else hist
        if len(h):
            for _, t in h.groupby("trial_id"):
                ax.plot(t["minutes"], t["objective"], color=col[name], alpha=0.35, linewidth=0.7)
            run = h.sort_values("minutes")
            ax.plot(run["minutes"], run["objective"].cummax(), color="black", linewidth=1, drawstyle="steps-post")
            ax.set_xlabel(f"minutes ({h['source'].iloc[0]})")
        else:
            t = tables.scored(trials[trials["experiment"] == name])
            ax.scatter(t["wall_seconds"] / 60, t["objective"], color=col[name], s=10)
            ax.set_xlabel("trial minutes (no history)")
        ax.set_title(name)
    axes[0, 0].set_ylabel("valid objective")
    fig.tight_layout(pad=0.3)
    return fig


def _iso_f2(level: float, beta: float = 2.0):
    """Recall and precision pairs with F-beta equal to ``level``: p = level r / ((1 + b^2) r - b^2 level)."""
    b2 = beta ** 2
    r = np.linspace(b2 * level / (1 + b2) + 1e-3, 1, 200)
    p = level * r / ((1 + b2) * r - b2 * level)
    keep = (p > 0) & (p <= 1.0)
    return r[keep], p[keep]


def summary_figures(trials: pd.DataFrame, win: pd.DataFrame, imps: dict[str, pd.Series], out: str | Path,
                    objective: str = "objective", scale: float = 1.0) -> dict[str, Path]:
    """The three images the PDF summary shows, written under ``out``: recall, importances, ASHA."""
    out = Path(out)
    return {
        "recall": save(mpl_recall(tables.per_class(win, "valid"), tables.per_class(win, "test"),
                                  size=(3.6, 2.3 * scale)), out / "winners_recall.png"),
        "importances": save(mpl_importances(imps, size=(7.2, 1.55 * scale)), out / "importances.png"),
        "asha": save(mpl_asha(trials, objective, size=(3.4, 2.3 * scale)), out / "asha_epochs.png"),
    }


# ================================================================ the notebook's other figures
@styled
def mpl_example_beats(beats, per_class: int = 3, seed: int = 0, size=(7.2, 1.7)):
    """A few beats of each class, time in seconds."""
    fig, axes = subplots(1, beats.num_classes, figsize=size, sharey=True, squeeze=False)
    rng = np.random.default_rng(seed)
    t = np.arange(beats.X.shape[1]) / 125.0
    for i, (ax, c) in enumerate(zip(axes[0], beats.classes)):
        idx = np.flatnonzero(beats.y == i)
        for j in rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []:
            ax.plot(t, beats.X[j], color=PALETTE[i], linewidth=0.7, alpha=0.8)
        ax.set_title(f"{c} ({len(idx)} beats)")
        ax.set_xlabel("s")
    fig.suptitle(f"example beats, {per_class} per class", fontsize=7.5)
    fig.tight_layout()
    return fig


@styled
def mpl_parallel(trials: pd.DataFrame, space: dict | None = None, title: str = "", size=(7.2, 2.4)):
    """Parallel coordinates of one search: each hyperparameter scaled to its range (choices as ticks, log
    ranges in log10), one line per scored trial coloured by its objective."""
    ok = tables.scored(trials)
    params = tables.param_columns(trials)
    kinds = tables.param_kinds(ok, params, space)
    fig, ax = subplots(figsize=size)
    if ok.empty or not params:
        _empty(ax, "no scored trial")
        return fig
    cols, labels = [], []
    for p in params:
        if kinds[p]["kind"] == "choice":
            keys = [tables._choice_key(c) for c in kinds[p]["choices"]]
            keys += [k for k in dict.fromkeys(ok[p].map(tables._choice_key)) if k not in keys]
            v = ok[p].map(tables._choice_key).map({k: i for i, k in enumerate(keys)}).astype(float)
            lo, hi = 0.0, max(len(keys) - 1, 1)
            labels.append(f"{short(p)}\n" + "/".join(map(str, keys))[:28])
        else:
            v = ok[p].astype(float)
            if kinds[p].get("log"):
                v = np.log10(v)
            lo, hi = float(v.min()), float(v.max())
            labels.append(("log10 " if kinds[p].get("log") else "") + short(p) + f"\n{lo:.3g}..{hi:.3g}")
        cols.append((v - lo) / ((hi - lo) or 1.0))
    grid = np.column_stack(cols)
    obj = ok["objective"].to_numpy(float)
    norm = Normalize(np.nanmin(obj), np.nanmax(obj))
    for row, value in sorted(zip(grid, obj), key=lambda r: r[1]):  # the best drawn last, on top
        ax.plot(range(len(params)), row, color=matplotlib.colormaps["viridis"](norm(value)), linewidth=0.8, alpha=0.8)
    ax.set_xticks(range(len(params)), labels, fontsize=5.5)
    ax.set_yticks([])
    fig.colorbar(ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="objective", pad=0.01)
    ax.set_title(title or "hyperparameters against the objective")
    return fig


@styled
def mpl_winners(win: pd.DataFrame, metrics=tables.HEADLINE, size=(7.2, 2.2)):
    """The headline metrics of each search's best model (and other model folders), valid and test."""
    splits = [s for s in ("valid", "test") if any(f"{s}_{m}" in win for m in metrics)]
    fig, axes = subplots(1, max(len(splits), 1), figsize=size, sharey=True, squeeze=False)
    labels = [r["experiment"] or r["tag"] for _, r in win.iterrows()]
    col = colors(labels)
    width = 0.8 / max(len(labels), 1)
    for ax, split in zip(axes[0], splits):
        for j, (label, (_, r)) in enumerate(zip(labels, win.iterrows())):
            x = np.arange(len(metrics)) + (j - (len(labels) - 1) / 2) * width
            ax.bar(x, [r.get(f"{split}_{m}", np.nan) for m in metrics], width, color=col[label], label=label)
        ax.set_xticks(np.arange(len(metrics)), [m.replace("_", " ") for m in metrics])
        ax.set_ylim(0, 1.05)
        ax.set_title(split)
    axes[0, 0].legend(ncol=4, frameon=False, loc="lower left", bbox_to_anchor=(0, -0.45), fontsize=5.5)
    return fig


@styled
def mpl_protocol(table: pd.DataFrame, size=(7.2, 2.2)):
    """DS1 -> DS2: sensitivity and positive predictivity per class, ours beside the published rows."""
    fig, axes = subplots(1, 2, figsize=size, sharey=True)
    rows = table.set_index("model")
    col = colors(rows.index)
    width = 0.8 / max(len(rows), 1)
    for ax, (kind, label) in zip(axes, (("Se", "sensitivity (Se)"), ("P", "positive predictivity (+P)"))):
        for j, (model, r) in enumerate(rows.iterrows()):
            x = np.arange(4) + (j - (len(rows) - 1) / 2) * width
            ax.bar(x, [r.get(f"{kind}_{c}", np.nan) for c in "NSVF"], width, color=col[model], label=model,
                   hatch=None if str(r.get("source", "")).startswith("this") else "///", edgecolor="white")
        ax.set_xticks(range(4), list("NSVF"))
        ax.set_ylim(0, 1.05)
        ax.set_title(f"DS2 {label}")
    axes[0].legend(ncol=3, frameon=False, loc="lower left", bbox_to_anchor=(0, -0.5), fontsize=5.5)
    return fig


@styled
def mpl_per_record(per: pd.DataFrame, size=(7.2, 1.9)):
    """Sensitivity per DS2 patient and class (blank: the patient has no beat of that class); counts in the cells."""
    fig, ax = subplots(figsize=size)
    if per.empty:
        _empty(ax, "no per-record results")
        return fig
    per = per.sort_values("record")
    z = np.array([[r[f"Se_{c}"] if r[f"n_{c}"] > 0 else np.nan for _, r in per.iterrows()] for c in "NSVF"])
    im = ax.imshow(z, aspect="auto", cmap="RdYlGn", vmin=0, vmax=1)
    for i, c in enumerate("NSVF"):
        for j, (_, r) in enumerate(per.iterrows()):
            if r[f"n_{c}"] > 0:
                ax.text(j, i, f"{int(r[f'n_{c}'])}", ha="center", va="center", fontsize=4.5)
    ax.set_yticks(range(4), list("NSVF"))
    ax.set_xticks(range(len(per)), per["record"].astype(str), rotation=90, fontsize=5.5)
    fig.colorbar(im, ax=ax, label="Se", pad=0.01)
    ax.set_title("sensitivity per DS2 patient and class (numbers: beats of the class)")
    return fig


@styled
def mpl_tradeoff(curve: pd.DataFrame, size=(7.2, 1.9)):
    """The recall-first trade-off: Se against +P of S and of V as each class's weight is swept, on the
    validation records (where the operating point was chosen) and on DS2; the chosen point marked."""
    classes = list(dict.fromkeys(curve["class"])) if len(curve) else []
    fig, axes = subplots(1, max(len(classes), 1), figsize=size, sharey=True, squeeze=False)
    if not classes:
        _empty(axes[0][0], "no trade-off curve (heartbeat operate --curve)")
        return fig
    col = colors(list(dict.fromkeys(curve["side"])))
    for ax, c in zip(axes[0], classes):
        for side, g in curve[curve["class"] == c].groupby("side", sort=False):
            g = g.sort_values("weight")
            ax.plot(g["P"], g["Se"], "-", color=col[side], lw=1.2, label=side)
            at = g[g["at_point"]]
            ax.plot(at["P"], at["Se"], "o", color=col[side], ms=5, mec="black", mew=0.6)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"+P {c}")
        ax.set_title(f"{c}: Se against +P as w_{c} moves (dot: the operating point)", fontsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Se")
    axes[0][0].legend(frameon=False, fontsize=6, loc="lower left")
    return fig
