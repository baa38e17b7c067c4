"""Figures from the report's tables: static matplotlib images (``mpl_*``) and interactive plotly ones (``px_*``).

The static images go under ``results/figures/`` for the PDF summary (kaleido, plotly's
image writer, needs a browser this project cannot fetch, so they are drawn again with
matplotlib); the plotly figures are for the notebook. Every function takes tables from
:mod:`heartbeat.report.tables` (or beats) and returns a figure; nothing here reads files.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files, never shown in a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from heartbeat.report import tables  # noqa: E402

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
STATUS_MARKERS = {tables.COMPLETED: ("o", "circle"), tables.STOPPED: ("x", "x")}

plt.rcParams.update({"font.size": 7, "axes.titlesize": 7.5, "axes.labelsize": 7, "legend.fontsize": 6,
                     "xtick.labelsize": 6.5, "ytick.labelsize": 6.5, "axes.spines.top": False,
                     "axes.spines.right": False, "savefig.dpi": 200, "svg.hashsalt": "heartbeat"})


def colors(names) -> dict[str, str]:
    """A fixed colour per name: the model families keep theirs whatever else is present."""
    names = list(dict.fromkeys(names))
    out = {n: PALETTE[i] for i, n in enumerate(tables.FAMILY_ORDER) if n in names}
    rest = iter(c for c in PALETTE * 3 if c not in out.values())
    return {n: out.get(n) or next(rest) for n in names}


def short(param: str) -> str:
    """``CNN1D.kernel_size`` -> ``kernel_size``; the fit loop's ``fit.learning_rate`` -> ``learning_rate``."""
    return param.rsplit(".", 1)[-1]


def save(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG (no timestamp in the file: the same inputs give the same bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=7, color="0.4")
    ax.set_axis_off()


# ================================================================ static (matplotlib)
def mpl_recall(per_valid: pd.DataFrame, per_test: pd.DataFrame | None = None, size=(3.6, 2.3)):
    """Per-class recall of each model (bars: valid split; black ticks: test split where scored)."""
    fig, ax = plt.subplots(figsize=size)
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
    ax.legend(ncol=3, frameon=False, loc="lower left", bbox_to_anchor=(0, -0.42))
    return fig


def mpl_importances(imps: dict[str, pd.Series], max_params: int = 6, size=(7.2, 1.55)):
    """Optuna's fANOVA importances, one small panel per search."""
    imps = {k: v for k, v in imps.items() if len(v)}
    if not imps:
        fig, ax = plt.subplots(figsize=(size[0], 0.6))
        _empty(ax, "importances: too few scored trials in any search")
        return fig
    n = len(imps)
    per_row = min(n, 5)
    rows = math.ceil(n / per_row)
    width = size[0] * min(1.0, 0.2 * per_row + 0.1)  # a panel keeps its width however many there are
    fig, axes = plt.subplots(rows, per_row, figsize=(width, size[1] * rows), squeeze=False)
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


def mpl_asha(trials: pd.DataFrame, objective: str = "objective", size=(3.4, 2.3)):
    """Each scored trial's best objective against the epochs it ran before ASHA stopped it (or it ended)."""
    fig, ax = plt.subplots(figsize=size)
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


def mpl_class_counts(counts: pd.DataFrame, size=(3.4, 2.2)):
    """Beats per class in train and test (log scale: the classes differ by orders of magnitude)."""
    fig, ax = plt.subplots(figsize=size)
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["train"], 0.4, label="train", color=PALETTE[0])
    ax.bar(x + 0.2, counts["test"], 0.4, label="test", color=PALETTE[1])
    ax.set_xticks(x, counts["class"])
    ax.set_yscale("log")
    ax.set_ylabel("beats")
    ax.legend(frameon=False)
    ax.set_title("class distribution")
    return fig


def mpl_mean_beats(beats, size=(7.2, 1.6)):
    """Mean plus or minus one standard deviation of the beats of each class."""
    k = beats.num_classes
    fig, axes = plt.subplots(1, k, figsize=size, sharey=True, squeeze=False)
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


def mpl_confusions(confs: dict[str, pd.DataFrame], size_per=1.8):
    """Row-normalised confusion matrices (true class in rows), counts written in the cells."""
    n = max(len(confs), 1)
    fig, axes = plt.subplots(1, n, figsize=(size_per * n, size_per), squeeze=False)
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


def mpl_precision_recall(per: pd.DataFrame, size=(3.4, 2.4)):
    """Precision against recall of each class for each model, with lines of equal F2."""
    fig, ax = plt.subplots(figsize=size)
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


def mpl_objective_time(hist: pd.DataFrame, trials: pd.DataFrame, size=(7.2, 2.0)):
    """The objective of every epoch of every trial against wall-clock minutes, one panel per search.

    Without per-epoch history (Ray's folders and MLflow absent), each trial's best objective
    against its own wall time from trials.csv.
    """
    names = list(dict.fromkeys(trials["experiment"])) if len(trials) else []
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=size, squeeze=False, sharey=True)
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


# ================================================================ interactive (plotly)
def px_class_counts(counts: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure([go.Bar(name=split, x=counts["class"], y=counts[split],
                            customdata=counts[f"{split}_share"], hovertemplate="%{x}: %{y} beats (%{customdata:.1%})")
                     for split in ("train", "test")])
    fig.update_layout(title="Beats per class (log scale)", yaxis_type="log", barmode="group", height=350)
    return fig


def px_example_beats(beats, per_class: int = 3, seed: int = 0):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(1, beats.num_classes, subplot_titles=beats.classes, shared_yaxes=True)
    rng = np.random.default_rng(seed)
    t = np.round(np.arange(beats.X.shape[1]) / 125.0, 3)
    for i, c in enumerate(beats.classes):
        idx = np.flatnonzero(beats.y == i)
        for j in rng.choice(idx, size=min(per_class, len(idx)), replace=False):
            fig.add_trace(go.Scatter(x=t, y=np.round(beats.X[j], 4), mode="lines", line=dict(width=1, color=PALETTE[i]),
                                     name=f"{c} #{j}", showlegend=False), 1, i + 1)
    fig.update_layout(title=f"Example beats ({per_class} per class; time in s)", height=300)
    return fig


def px_mean_std(beats):
    import plotly.graph_objects as go

    fig = go.Figure()
    t = np.round(np.arange(beats.X.shape[1]) / 125.0, 3)
    for i, c in enumerate(beats.classes):
        X = beats.X[beats.y == i]
        if not len(X):
            continue
        mean, std = np.round(X.mean(0), 4), np.round(X.std(0), 4)  # 4 decimals: the notebook stays small
        fig.add_trace(go.Scatter(x=np.r_[t, t[::-1]], y=np.r_[mean + std, (mean - std)[::-1]], fill="toself",
                                 fillcolor=PALETTE[i], opacity=0.2, line=dict(width=0), legendgroup=c,
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=t, y=mean, mode="lines", name=f"{c} (n={len(X)})", legendgroup=c,
                                 line=dict(color=PALETTE[i])))
    fig.update_layout(title="Mean beat per class, plus or minus one standard deviation", xaxis_title="s",
                      height=380)
    return fig


def px_objective_time(hist: pd.DataFrame, trials: pd.DataFrame):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dict.fromkeys(trials["experiment"])) if len(trials) else []
    fig = make_subplots(1, max(len(names), 1), subplot_titles=names or ["no search"], shared_yaxes=True)
    col = colors(names)
    sources = set()
    for k, name in enumerate(names, start=1):
        h = hist[hist["experiment"] == name] if len(hist) else hist
        if len(h):
            sources.add(h["source"].iloc[0])
            for tid, t in h.groupby("trial_id", sort=False):
                fig.add_trace(go.Scatter(x=t["minutes"], y=t["objective"], mode="lines+markers", opacity=0.5,
                                         line=dict(color=col[name], width=1), marker=dict(size=3),
                                         name=f"{name} {tid}", showlegend=False,
                                         hovertemplate=f"trial {tid}<br>%{{x:.1f}} min<br>objective %{{y:.4f}}"),
                              1, k)
            run = h.sort_values("minutes")
            fig.add_trace(go.Scatter(x=run["minutes"], y=run["objective"].cummax(), mode="lines",
                                     line=dict(color="black", width=2, shape="hv"), name="best so far",
                                     showlegend=k == 1), 1, k)
            fig.update_xaxes(title_text="minutes", row=1, col=k)
        else:
            t = tables.scored(trials[trials["experiment"] == name])
            fig.add_trace(go.Scatter(x=t["wall_seconds"] / 60, y=t["objective"], mode="markers",
                                     marker=dict(color=col[name]), text=t["trial_id"], name=name,
                                     hovertemplate="trial %{text}<br>%{x:.1f} min<br>objective %{y:.4f}"), 1, k)
            fig.update_xaxes(title_text="trial minutes", row=1, col=k)
    where = " and ".join(sorted(sources)) if sources else "trials.csv: no per-epoch history found"
    fig.update_layout(title=f"Objective over time per search (source: {where})", yaxis_title="valid objective",
                      height=380)
    return fig


def px_parallel(trials: pd.DataFrame, space: dict | None = None, title: str = ""):
    """Parallel coordinates of one search's hyperparameters against its objective (choices as ticks)."""
    import plotly.graph_objects as go

    ok = tables.scored(trials)
    params = tables.param_columns(trials)
    kinds = tables.param_kinds(ok, params, space)
    dims = []
    for p in params:
        if kinds[p]["kind"] == "choice":
            keys = [tables._choice_key(c) for c in kinds[p]["choices"]]
            keys += [k for k in dict.fromkeys(ok[p].map(tables._choice_key)) if k not in keys]
            codes = ok[p].map(tables._choice_key).map({k: i for i, k in enumerate(keys)})
            dims.append(dict(label=short(p), values=codes, tickvals=list(range(len(keys))), ticktext=keys))
        elif kinds[p].get("log"):
            dims.append(dict(label=f"log10 {short(p)}", values=np.log10(ok[p].astype(float))))
        else:
            dims.append(dict(label=short(p), values=ok[p].astype(float)))
    dims.append(dict(label="objective", values=ok["objective"]))
    fig = go.Figure(go.Parcoords(line=dict(color=ok["objective"], colorscale="Viridis", showscale=True),
                                 dimensions=dims))
    fig.update_layout(title=title or "Hyperparameters against the objective", height=380)
    return fig


def px_importances(imps: dict[str, pd.Series]):
    import plotly.express as px

    long = pd.DataFrame([{"search": k, "param": p, "importance": v} for k, s in imps.items() for p, v in s.items()])
    if long.empty:
        long = pd.DataFrame({"search": [], "param": [], "importance": []})
    fig = px.bar(long, x="importance", y="param", color="search", orientation="h", barmode="group",
                 color_discrete_map=colors(imps), title="Hyperparameter importances (Optuna, fANOVA)")
    fig.update_layout(height=max(300, 22 * long["param"].nunique() + 120), yaxis=dict(autorange="reversed"))
    return fig


def px_asha(trials: pd.DataFrame):
    import plotly.express as px

    t = trials[trials["status"] != tables.NOT_RUN]
    fig = px.histogram(t, x="epochs", color="status", facet_col="experiment", barmode="stack",
                       title="Epochs each trial ran (ASHA stops the weak ones at its rungs)")
    fig.update_layout(height=320)
    return fig


def px_winners(win: pd.DataFrame, metrics=tables.HEADLINE):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    splits = [s for s in ("valid", "test") if any(f"{s}_{m}" in win for m in metrics)]
    fig = make_subplots(len(splits) or 1, 1, subplot_titles=splits, shared_xaxes=True)
    labels = [r["experiment"] or r["tag"] for _, r in win.iterrows()]
    col = colors(labels)
    for k, split in enumerate(splits, start=1):
        for label, (_, r) in zip(labels, win.iterrows()):
            fig.add_trace(go.Bar(name=label, x=list(metrics), y=[r.get(f"{split}_{m}", np.nan) for m in metrics],
                                 marker_color=col[label], showlegend=k == 1, legendgroup=label), k, 1)
    fig.update_layout(title="Best model of each search side by side (and other model folders)", barmode="group",
                      height=300 * max(len(splits), 1))
    return fig


def px_confusions(confs: dict[str, pd.DataFrame]):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = max(len(confs), 1)
    fig = make_subplots(1, n, subplot_titles=list(confs) or ["no model folder"])
    for k, (tag, cm) in enumerate(confs.items(), start=1):
        norm = cm.div(cm.sum(1).replace(0, np.nan), axis=0).fillna(0)
        fig.add_trace(go.Heatmap(z=norm.values, x=list(cm.columns), y=list(cm.index), text=cm.values,
                                 texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1, showscale=k == n,
                                 hovertemplate="true %{y}, predicted %{x}: %{text} beats (%{z:.1%} of the row)"),
                      1, k)
        fig.update_yaxes(autorange="reversed", row=1, col=k)
    fig.update_layout(title="Confusion matrices on the valid split (row-normalised colour, counts as text)",
                      height=max(300, 340 if n < 4 else 280))
    return fig


def px_recall(per: pd.DataFrame, title: str = "Per-class recall of the winners (valid split)"):
    import plotly.express as px

    fig = px.bar(per, x="class", y="recall", color="model", barmode="group", title=title,
                 color_discrete_map=colors(per["model"]) if len(per) else None)
    fig.update_layout(yaxis_range=[0, 1.05], height=340)
    return fig


def px_precision_recall(per: pd.DataFrame):
    import plotly.express as px
    import plotly.graph_objects as go

    per = per.dropna(subset=["precision"])
    fig = px.scatter(per, x="recall", y="precision", color="class", symbol="model", hover_data=["tag"],
                     title="Precision against recall per class (valid split; grey: equal F2)")
    for level in (0.5, 0.7, 0.9):
        r, p = _iso_f2(level)
        fig.add_trace(go.Scatter(x=r, y=p, mode="lines", line=dict(color="lightgrey", width=1),
                                 name=f"F2 = {level}", hoverinfo="name"))
    fig.update_layout(xaxis_range=[0, 1.02], yaxis_range=[0, 1.02], height=420)
    return fig
