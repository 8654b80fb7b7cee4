"""Figures of a hyperparameter sweep, built with matplotlib's object API.

Each function returns a :class:`matplotlib.figure.Figure` (and writes it when given a path).
No pyplot state is touched and the backend is never changed, so calling these from a notebook
or an application leaves its matplotlib setup as it was. matplotlib is imported inside each
function, so importing this module is cheap.

Figures of a sweep (:func:`sweep_figures`, written by :func:`write_sweep_figures`):

- ``top20.png`` (:func:`sweep_top_grid`): the book's grid of the best trials' curves, each
  panel titled with its hyperparameter values;
- ``scatter.png`` (:func:`sweep_scatter`): final validation accuracy against each searched
  hyperparameter (log axes for log ranges, categories as strips);
- ``parallel.png`` (:func:`sweep_parallel`): parallel coordinates of the best trials;
- ``rungs.png`` (:func:`sweep_rungs`, successive halving, hyperband, pruned Optuna studies):
  validation accuracy per epoch, stopped trials fading, survivors continuing;
- ``pbt.png`` (:func:`sweep_pbt`, population-based training): the hyperparameter schedules of
  the final population.

``space`` arguments accept the sweep's space (:class:`jaxch6.sweep.Param` objects or their
dicts); a ``choices`` entry, or string values, make a parameter categorical.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_LINE = {"complete": "C0", "stopped": "0.55", "running": "C1"}
#: The words every figure uses for the metric (the CSV's ``final_val_acc``).
ACC_LABEL = "final validation accuracy"


# -- helpers ------------------------------------------------------------------------------------
def _figure(width: float, height: float):
    """A figure with a fixed layout: margins are set in inches by :func:`_margins`, which is
    a fraction of the cost of matplotlib's constrained layout (every text measured per draw)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _margins(fig, *, left=0.55, right=0.15, top=0.45, bottom=0.45, wspace=0.0,
             hspace=0.0) -> None:
    """Margins and gaps between panels in inches (font sizes are in points, so the room a
    label needs does not grow with the figure)."""
    w, h = fig.get_size_inches()
    rows, cols = _shape(fig)
    cell_w = max((w - left - right - wspace * (cols - 1)) / cols, 0.1)
    cell_h = max((h - top - bottom - hspace * (rows - 1)) / rows, 0.1)
    fig.subplots_adjust(left=left / w, right=1 - right / w, top=1 - top / h, bottom=bottom / h,
                        wspace=wspace / cell_w, hspace=hspace / cell_h)


def _shape(fig) -> tuple[int, int]:
    specs = [ax.get_subplotspec() for ax in fig.axes if ax.get_subplotspec() is not None]
    if not specs:
        return 1, 1
    return specs[0].get_gridspec().get_geometry()


def _save(fig, path: str | os.PathLike | None, dpi: int = 100):
    if path is not None:
        from matplotlib import rc_context

        from jaxch6.sweep.store import write_file

        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        # PNG: zlib's fastest level (a third of the encoding time for files about 12 % larger)
        extra = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
        # unhinted glyphs: the text, most of a figure's drawing time, renders faster; the
        # user's settings are back when this returns
        with rc_context({"text.hinting": "no_hinting"}):
            write_file(path, lambda f: fig.savefig(f, dpi=dpi, format=fmt, **extra))
    return fig


def _label(trials: Sequence) -> str:
    """:data:`ACC_LABEL`, or ``final NAME`` for a task's objective (``Trial.objective``)."""
    name = getattr(trials[0], "objective", "val_acc") if len(trials) else "val_acc"
    return ACC_LABEL if name == "val_acc" else f"final {name}"


def _unit_range(trials: Sequence) -> bool:
    """Whether the objective is the book's accuracy (plotted on 0..1)."""
    return _label(trials) == ACC_LABEL


def _colorbar(fig, ax, norm, cmap, label: str = ACC_LABEL) -> None:
    """A colour bar beside ``ax`` named with ``label``."""
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04, pad=0.02)
    ticks = (norm.vmin, (norm.vmin + norm.vmax) / 2, norm.vmax)  # fixed: no locator search
    bar.set_ticks(ticks, labels=[format_value(v) for v in ticks])
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _field(entry: Any, name: str, default: Any = None) -> Any:
    if isinstance(entry, Mapping):
        return entry.get(name, default)
    return getattr(entry, name, default)


def _axis_name(axis: Mapping[str, Any]) -> str:
    """An axis's label: the hyperparameter's name as ``--space``, the ranking and
    ``trials.csv`` spell it, with ``(log)`` for a log range."""
    return axis["name"] + (" (log)" if axis["kind"] == "log" else "")


def format_value(value: Any) -> str:
    """A hyperparameter value for a title: two significant digits, strings as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.2g}"


def format_hparams(hparams: Mapping[str, Any], sep: str = ", ") -> str:
    """``learning_rate=0.0071, weight_decay=3.2e-07``."""
    return sep.join(f"{k}={format_value(v)}" for k, v in hparams.items())


def _axes_of(trials: Sequence, space: Sequence | None) -> list[dict[str, Any]]:
    """Per searched hyperparameter: name, kind (``log``, ``lin`` or ``cat``), categories and
    the range to normalise to."""
    names = [_field(p, "name") for p in space or ()]
    for t in trials:
        names += [k for k in t.hparams if k not in names]
    entries = {_field(p, "name"): p for p in space or ()}
    out = []
    for name in names:
        entry = entries.get(name)
        values = [t.hparams[name] for t in trials if name in t.hparams]
        choices = _field(entry, "choices")
        if choices is not None or any(isinstance(v, str | bool) for v in values):
            cats = [*(choices or ())]
            cats += sorted({v for v in values if v not in cats}, key=str)
            out.append({"name": name, "kind": "cat", "cats": cats})
            continue
        kind = "log" if _field(entry, "scale") == "log" else "lin"
        nums = [float(v) for v in values if v is not None and math.isfinite(float(v))]
        if kind == "log" and any(v <= 0 for v in nums):
            kind = "lin"
        low, high = _field(entry, "low"), _field(entry, "high")
        if low is None or high is None:
            low, high = (min(nums), max(nums)) if nums else (0.0, 1.0)
        out.append({"name": name, "kind": kind, "low": float(low), "high": float(high)})
    return out


def _position(axis: Mapping[str, Any], value: Any) -> float:
    """``value`` on ``axis`` scaled to [0, 1] (log ranges in log space; NaN when absent)."""
    if value is None:
        return math.nan
    if axis["kind"] == "cat":
        cats = axis["cats"]
        return cats.index(value) / max(len(cats) - 1, 1) if value in cats else math.nan
    lo, hi, v = axis["low"], axis["high"], float(value)
    if axis["kind"] == "log":
        lo, hi, v = math.log10(lo), math.log10(hi), math.log10(v) if v > 0 else math.nan
    return (v - lo) / (hi - lo) if hi > lo else 0.5


def _acc(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _inch_axes(width: float, height: float):
    """A figure of ``width`` × ``height`` inches and one axes over all of it, axis off, whose
    data coordinates are inches from the lower left corner (for panels drawn by hand)."""
    fig = _figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(0.0, width)
    ax.set_ylim(0.0, height)
    return fig, ax


def _panel(ax, box, xlim, ylim):
    """A framed panel at ``box`` (x, y, width, height in inches) of :func:`_inch_axes`'s axes;
    returns the transform that draws data in ``xlim`` × ``ylim`` into it."""
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Affine2D

    x0, y0, pw, ph = box
    ax.add_patch(Rectangle((x0, y0), pw, ph, fill=False, lw=0.8, ec="black"))
    sx, sy = pw / (xlim[1] - xlim[0]), ph / (ylim[1] - ylim[0])
    return Affine2D().translate(-xlim[0], -ylim[0]).scale(sx, sy).translate(x0, y0) + ax.transData


def _panel_ticks(ax, to_inch, box, xticks, yticks) -> None:
    """Tick marks and values below (``xticks``) and left of (``yticks``) a :func:`_panel`."""
    x0, y0 = box[0], box[1]
    inch = ax.transData.inverted()
    xs = [inch.transform(to_inch.transform((v, 0.0)))[0] for v in xticks]
    ys = [inch.transform(to_inch.transform((0.0, v)))[1] for v in yticks]
    marks_x = [p for x in xs for p in ((x, y0), (x, y0 - 0.05), (math.nan, math.nan))]
    marks_y = [p for y in ys for p in ((x0, y), (x0 - 0.05, y), (math.nan, math.nan))]
    if marks_x or marks_y:
        mx, my = zip(*marks_x, *marks_y, strict=True)
        ax.plot(mx, my, color="black", lw=0.8)
    for v, x in zip(xticks, xs, strict=True):
        ax.text(x, y0 - 0.06, format_value(v), fontsize=6, ha="center", va="top")
    for v, y in zip(yticks, ys, strict=True):
        ax.text(x0 - 0.07, y, format_value(v), fontsize=6, ha="right", va="center")


def _grid(n: int, cols: int, width: float, height: float):
    rows = max(1, math.ceil(max(n, 1) / cols))
    fig = _figure(width * cols, height * rows)
    return fig, fig.subplots(rows, cols, squeeze=False)


# -- the book's grid ----------------------------------------------------------------------------
def sweep_top_grid(trials: Sequence, path: str | os.PathLike | None = None, *, n: int = 20,
                   cols: int = 5, title: str | None = None):
    """The book's figure of a hyperparameter search (``ch06/hyperparameter_optimization.py``).

    The first ``n`` of ``trials`` (ranked best first, e.g. :attr:`jaxch6.sweep.SweepResult.ranked`)
    in a grid of ``cols`` columns (book: 20 as 4×5): validation accuracy per epoch solid,
    training accuracy dashed, y from 0 to 1, epochs on x, both axes labelled on every panel
    (tick values on the grid's outer panels). Each panel is titled ``Best-k (val acc)`` and the
    trial's hyperparameter values; a trial stopped early (successive halving, a pruner) says
    ``stopped at epoch E`` in its title and its curves end in a cross.

    The panels are drawn by hand in one axes whose data coordinates are the figure's inches
    (``fig.axes[0]``, axis off; matplotlib's per-panel axes and tick machinery cost most of
    the figure's time): each panel is a :class:`~matplotlib.patches.Rectangle` frame, its
    curves are :class:`~matplotlib.lines.Line2D` objects holding the trial's own values (epoch,
    accuracy) drawn through the panel's transform and clipped to the frame, and its title and
    axis labels are the axes' texts.

    Args:
        trials: objects with ``hparams``, ``val_acc``, ``train_acc``, ``diverged`` (and
            ``status``).
        path: a file to write (None: only return the figure).
        n: how many trials to draw.
        cols: panels per row.
        title: the figure's title.

    Returns:
        The :class:`matplotlib.figure.Figure`.
    """
    shown = list(trials)[:n]
    longest = max((len(t.val_acc) for t in shown), default=1)
    title_h = 0.1 + 0.12 * (1 + max((len(t.hparams) for t in shown), default=0))
    rows = max(1, math.ceil(max(len(shown), 1) / cols))
    width, height = 2.6 * cols, 0.45 + rows * (1.45 + title_h + 0.3)  # suptitle; row: plot,
    fig, ax = _inch_axes(width, height)                                # its title, its x label
    pw, ph = (width - 0.45 - 0.15 - 0.35 * (cols - 1)) / cols, 1.45
    xlim, xticks = (0.8, max(longest, 1) + 0.2), _epoch_ticks(longest)
    for i, t in enumerate(shown):
        r, c = divmod(i, cols)
        box = (0.45 + c * (pw + 0.35), height - (0.45 + title_h) - r * (ph + title_h + 0.3) - ph,
               pw, ph)
        to_inch = _panel(ax, box, xlim, (0.0, 1.0))
        outer_x, outer_y = i + cols >= len(shown), c == 0
        _top_panel(ax, t, i, to_inch, box, (outer_x, outer_y))
        _panel_ticks(ax, to_inch, box, xticks if outer_x else (),
                     (0.0, 0.5, 1.0) if outer_y else ())
    if shown:
        _top_legend(ax, shown, (0.45 + pw, height - (0.45 + title_h) - ph))
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _top_panel(ax, t, i: int, to_inch, box, ticked: tuple[bool, bool]) -> None:
    """One trial's curves, title and axis labels in the panel ``box`` (``ticked``: whether its
    x and y axes show tick values, which the labels go beyond)."""
    from matplotlib.transforms import Bbox, TransformedBbox

    clip = TransformedBbox(Bbox.from_bounds(*box), ax.transData)
    x = range(1, len(t.val_acc) + 1)
    marker = "." if len(x) < 3 else None  # a curve of one epoch is a point
    lines = ax.plot(x, t.val_acc, marker=marker, color="C0", transform=to_inch)
    if t.train_acc:
        lines += ax.plot(x, t.train_acc, "--", marker=marker, color="C1", transform=to_inch)
    flag = " diverged" if t.diverged else ""
    if getattr(t, "status", None) == "stopped":
        flag += f", stopped at epoch {len(t.val_acc)}"
        lines += ax.plot(x[-1:], t.val_acc[-1:], "x", color="C3", ms=5, transform=to_inch)
    for line in lines:
        line.set_clip_box(clip)
    x0, y0, pw, ph = box
    ax.text(x0 + pw / 2, y0 + ph + 0.04,
            f"Best-{i + 1} ({_acc(t.val_acc[-1] if t.val_acc else math.nan):.3f}){flag}\n"
            f"{format_hparams(t.hparams, chr(10))}", fontsize=7, ha="center", va="bottom")
    ax.text(x0 + pw / 2, y0 - (0.15 if ticked[0] else 0.03), "epoch", fontsize=6,
            ha="center", va="top")
    ax.text(x0 - (0.25 if ticked[1] else 0.03), y0 + ph / 2, "accuracy", fontsize=6,
            ha="right", va="center", rotation=90)


def _top_legend(ax, shown: Sequence, corner: tuple[float, float]) -> None:
    """The first panel's legend (lower right ``corner``, inches): the kinds of curve drawn."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="C0", label="validation")]
    if any(t.train_acc for t in shown):
        handles.append(Line2D([], [], color="C1", ls="--", label="train"))
    if any(getattr(t, "status", None) == "stopped" for t in shown):
        handles.append(Line2D([], [], color="C3", ls="", marker="x", ms=5,
                              label="stopped early"))
    ax.legend(handles=handles, fontsize=6, loc="lower right", bbox_to_anchor=corner,
              bbox_transform=ax.transData)


def _value_ticks(axis: Mapping[str, Any]) -> list[float]:
    """At most five ticks over a numeric axis's range: decades of a log range (its ends and
    their geometric mean when it holds fewer than two), five even steps of a linear one."""
    lo, hi = axis["low"], axis["high"]
    if axis["kind"] == "log":
        first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
        decades = [10.0 ** k for k in range(first, last + 1)]
        decades = decades[::max(1, math.ceil(len(decades) / 5))]
        return decades if len(decades) >= 2 else [lo, math.sqrt(lo * hi), hi]
    return [lo + (hi - lo) * k / 4 for k in range(5)] if hi > lo else [lo]


def _epoch_ticks(longest: int) -> list[int]:
    """At most five round epochs up to ``longest`` (fixed ticks: no locator search)."""
    for step in (m * 10**k for k in range(9) for m in (1, 2, 5)):
        if longest <= 5 * step:
            return list(range(step, longest + 1, step)) or [1]
    return [longest]


# -- accuracy against each hyperparameter -------------------------------------------------------
def sweep_scatter(trials: Sequence, path: str | os.PathLike | None = None, *,
                  space: Sequence | None = None, cols: int = 3):
    """Final validation accuracy against each searched hyperparameter, one panel each.

    Log ranges get a log x axis; categorical parameters are strips (one per category, points
    jittered sideways). Complete trials blue, trials stopped early grey, diverged ones red
    crosses (at their final accuracy).

    Args:
        trials: objects with ``hparams``, ``val_acc``, ``diverged``, ``status``.
        path: a file to write (None: only return the figure).
        space: the sweep's space (its scales, ranges and categories).
        cols: panels per row.

    Returns:
        The :class:`matplotlib.figure.Figure`; panel ``i`` is titled with parameter ``i``'s name.
    """
    import numpy as np

    trials = list(trials)
    axes_info = _axes_of(trials, space)
    fig, axes = _grid(len(axes_info), min(cols, max(len(axes_info), 1)), 3.6, 3.0)
    _margins(fig, left=0.6, top=0.6, bottom=0.5, wspace=0.6, hspace=0.8)
    rng = np.random.default_rng(0)
    for ax, info in zip(axes.flat, axes_info, strict=False):
        name = info["name"]
        groups = {"complete": [], "stopped": [], "diverged": []}
        for t in trials:
            if name not in t.hparams:
                continue
            group = "diverged" if t.diverged else ("stopped" if t.status == "stopped"
                                                   else "complete")
            groups[group].append(t)
        for group, style in (("stopped", dict(c="0.6", marker="o", alpha=0.5)),
                             ("complete", dict(c="C0", marker="o", alpha=0.8)),
                             ("diverged", dict(c="C3", marker="x", alpha=0.8))):
            ts = groups[group]
            if not ts:
                continue
            y = [_acc(t.val_acc[-1] if t.val_acc else math.nan) for t in ts]
            if info["kind"] == "cat":
                x = [info["cats"].index(t.hparams[name]) for t in ts]
                x = np.asarray(x, float) + rng.uniform(-0.2, 0.2, len(x))
            else:
                x = [float(t.hparams[name]) for t in ts]
            label = "stopped early" if group == "stopped" else group
            ax.scatter(x, y, s=12, label=label, **style)
        if info["kind"] == "cat":
            ax.set_xticks(range(len(info["cats"])), [str(c) for c in info["cats"]])
        else:  # fixed ticks: matplotlib's log locators and formatters cost more than the points
            if info["kind"] == "log":
                ax.set_xscale("log")
            ticks = _value_ticks(info)
            ax.set_xticks(ticks, [format_value(v) for v in ticks])
            ax.minorticks_off()
        ax.set_title(name, fontsize=9)
        if _unit_range(trials):
            ax.set_ylim(-0.02, 1.02)
            ax.set_yticks((0.0, 0.25, 0.5, 0.75, 1.0), ("0", "0.25", "0.5", "0.75", "1"))
        ax.set_xlabel(_axis_name(info), fontsize=7)
        ax.set_ylabel(_label(trials), fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(axes_info):]:
        ax.axis("off")
    if axes_info:
        axes.flat[0].legend(fontsize=6, loc="best")
    fig.suptitle(f"{_label(trials)} of {len(trials)} trials", fontsize=10)
    return _save(fig, path)


# -- parallel coordinates -----------------------------------------------------------------------
def sweep_parallel(trials: Sequence, path: str | os.PathLike | None = None, *,
                   space: Sequence | None = None, top: int = 20):
    """Parallel coordinates of the ``top`` best trials: one vertical axis per hyperparameter
    (its range, log-scaled for log ranges; categories evenly spaced) and a last one for the
    final validation accuracy; one line per trial, coloured by that accuracy.

    Args:
        trials: ranked best first (e.g. :attr:`jaxch6.sweep.SweepResult.ranked`).
        path: a file to write (None: only return the figure).
        space: the sweep's space (scales, ranges, categories).
        top: how many trials to draw.

    Returns:
        The :class:`matplotlib.figure.Figure` (one axes; x tick labels name the axes).
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    shown = list(trials)[:top]
    axes_info = _axes_of(shown, space)
    accs = [_acc(t.val_acc[-1] if t.val_acc else math.nan) for t in shown]
    lo, hi = (min(accs), max(accs)) if accs else (0.0, 1.0)
    acc_axis = {"name": _label(shown), "kind": "lin", "low": lo, "high": hi}
    columns = [*axes_info, acc_axis]
    fig = _figure(max(5.0, 1.8 * len(columns) + 1.0), 4.2)
    ax = fig.subplots()
    _margins(fig, left=0.4, right=0.85, top=0.45, bottom=0.75)
    norm, cmap = Normalize(lo, hi if hi > lo else lo + 1e-9), colormaps["viridis"]
    for t, acc in sorted(zip(shown, accs, strict=True), key=lambda p: p[1]):
        ys = [_position(c, t.hparams.get(c["name"])) if c is not acc_axis
              else _position(c, acc) for c in columns]
        ax.plot(range(len(columns)), ys, color=cmap(norm(acc)), alpha=0.8, lw=1.2)
    for i, c in enumerate(columns):
        ax.axvline(i, color="0.3", lw=0.8)
        if c["kind"] == "cat":
            for j, cat in enumerate(c["cats"]):
                ax.text(i + 0.03, j / max(len(c["cats"]) - 1, 1), str(cat), fontsize=6)
        else:
            ax.text(i + 0.03, -0.06, format_value(c["low"]), fontsize=6, va="top")
            ax.text(i + 0.03, 1.06, format_value(c["high"]), fontsize=6, va="bottom")
    ax.set_xticks(range(len(columns)), [_axis_name(c) for c in columns], fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_xlim(-0.2, len(columns) - 0.6)
    ax.set_xlabel("hyperparameter", fontsize=8)
    ax.set_ylabel("value within its range (low at the bottom)", fontsize=8)
    ax.set_title(f"top {len(shown)} trials (colour: {_label(shown)})", fontsize=10)
    _colorbar(fig, ax, norm, cmap, _label(shown))
    return _save(fig, path)


# -- successive halving / hyperband -------------------------------------------------------------
def sweep_rungs(trials: Sequence, path: str | os.PathLike | None = None, *, cols: int = 3,
                unit: str = "round"):
    """Validation accuracy per epoch of every trial of a successive-halving, hyperband or
    pruned run: trials stopped early fade (the earlier, the fainter) and end with a dot;
    survivors continue in colour. One panel per round (hyperband: per bracket), numbered from
    1 as the command line prints them (``round 1/2``); dotted lines mark the epochs where
    trials were stopped.

    Args:
        trials: objects with ``round``, ``val_acc``, ``status``.
        path: a file to write (None: only return the figure).
        cols: panels per row.
        unit: what a panel is (``round``; ``bracket`` for hyperband).

    Returns:
        The :class:`matplotlib.figure.Figure`; panel titles name the round and its counts.
    """
    from matplotlib.lines import Line2D

    trials = list(trials)
    rounds = sorted({t.round for t in trials}) or [0]
    fig, axes = _grid(len(rounds), min(cols, len(rounds)), 6.0, 4.2)
    _margins(fig, left=0.7, right=0.25, top=0.75, bottom=0.55, wspace=0.7, hspace=0.8)
    for ax, r in zip(axes.flat, rounds, strict=False):
        ts = [t for t in trials if t.round == r]
        longest = max((t.epochs for t in ts), default=1)
        _rung_curves(ax, ts, longest)
        for e in sorted({t.epochs for t in ts if t.status == "stopped"}):
            ax.axvline(e, color="0.3", ls=":", lw=0.8)
        survivors = sum(t.status != "stopped" for t in ts)
        ax.set_title(f"{unit} {r + 1}/{len(rounds)}: {len(ts)} trials, {survivors} trained to "
                     f"{longest} epochs", fontsize=9)
        if _unit_range(trials):
            ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("validation accuracy" if _unit_range(trials) else
                      _label(trials).removeprefix("final "), fontsize=8)
        ax.set_xticks(_epoch_ticks(longest))
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(rounds):]:
        ax.axis("off")
    axes.flat[0].legend(handles=[
        Line2D([], [], color="0.5", marker="o", ms=3, lw=0.8, label="stopped early"),
        Line2D([], [], color="C0", lw=1.4, label="trained to the last rung"),
        Line2D([], [], color="0.3", ls=":", lw=0.8, label="a rung (trials stopped)")],
        fontsize=7, loc="lower right")
    what = "validation accuracy" if _unit_range(trials) else _label(trials).removeprefix("final ")
    fig.suptitle(f"{what} per epoch: stopped trials fade, survivors continue", fontsize=10)
    return _save(fig, path)


def _rung_curves(ax, ts: Sequence, longest: int) -> None:
    """The curves of one panel of :func:`sweep_rungs`: one line collection per group (the
    trials stopped at the same epoch, grey and the fainter the earlier, their last points
    dots; the survivors in colour), drawn in order of length."""
    from matplotlib.collections import LineCollection

    groups: dict[tuple, list] = {}
    for t in ts:
        key = (0, t.epochs, "0.5") if t.status == "stopped" else (1, 0, _LINE.get(t.status, "C0"))
        groups.setdefault(key, []).append(
            list(zip(range(1, t.epochs + 1), [_acc(a) for a in t.val_acc], strict=False)))
    for (survivor, epochs, color), curves in sorted(groups.items()):
        if survivor:
            ax.add_collection(LineCollection(curves, colors=color, alpha=0.9, linewidths=1.4))
            continue
        alpha = 0.15 + 0.45 * epochs / max(longest, 1)
        ax.add_collection(LineCollection(curves, colors=color, alpha=alpha, linewidths=0.8))
        ends = [c[-1] for c in curves if c]
        ax.plot([p[0] for p in ends], [p[1] for p in ends], "o", color=color, alpha=alpha, ms=2.5)
    ax.autoscale_view()


# -- population-based training ------------------------------------------------------------------
def sweep_pbt(trials: Sequence, path: str | os.PathLike | None = None, *,
              space: Sequence | None = None, cols: int = 3):
    """The hyperparameter schedules of a population-based training run's final population:
    per hyperparameter, each member's value in effect during each epoch (from its
    ``lineage``), coloured by its final validation accuracy (best darkest); dots mark the epochs
    where it copied another member (exploit) and perturbed the values (explore).

    Args:
        trials: objects with ``hparams``, ``val_acc``, ``lineage``, ``hparams_before``.
        path: a file to write (None: only return the figure).
        space: the sweep's space (log axes for log ranges).
        cols: panels per row.

    Returns:
        The :class:`matplotlib.figure.Figure`; panel ``i`` is titled with parameter ``i``'s name.
    """
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    trials = list(trials)
    axes_info = [a for a in _axes_of(trials, space) if a["kind"] != "cat"]
    fig, axes = _grid(len(axes_info), min(cols, max(len(axes_info), 1)), 4.2, 3.2)
    _margins(fig, left=0.75, right=1.0, top=0.6, bottom=0.5, wspace=0.8, hspace=0.8)
    accs = [_acc(t.val_acc[-1] if t.val_acc else math.nan) for t in trials]
    norm = Normalize(min(accs, default=0.0), max(max(accs, default=1.0), min(accs, default=0.0)
                                                 + 1e-9))
    cmap = colormaps["viridis"]
    for ax, info in zip(axes.flat, axes_info, strict=False):
        name = info["name"]
        for t, acc in sorted(zip(trials, accs, strict=True), key=lambda p: p[1]):
            epochs = range(1, t.epochs + 1)
            values = [float(t.hparams_before(e).get(name, math.nan)) for e in epochs]
            ax.step(epochs, values, where="mid", color=cmap(norm(acc)), lw=1.0, alpha=0.85)
            for event in (t.lineage or [])[1:]:
                e = int(event["epoch"])
                if name in event["hparams"] and 0 <= e < t.epochs:
                    ax.plot([e + 0.5], [float(event["hparams"][name])], ".",
                            color=cmap(norm(acc)), ms=3)
        if info["kind"] == "log":
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=7)
        ax.set_ylabel(_axis_name(info), fontsize=7)
        ax.set_xticks(_epoch_ticks(max((t.epochs for t in trials), default=1)))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(axes_info):]:
        ax.axis("off")
    if axes_info:
        _colorbar(fig, list(axes.flat)[:len(axes_info)], norm, cmap, _label(trials))
    fig.suptitle(f"hyperparameter schedules of the final population ({len(trials)} members; "
                 f"colour: {_label(trials)})", fontsize=9)
    return _save(fig, path)


# -- a sweep's figures --------------------------------------------------------------------------
def _scheduler(result) -> str | None:
    sched = (result.info or {}).get("scheduler")
    if isinstance(sched, Mapping):
        return sched.get("name")
    return getattr(result.config, "scheduler", None)


def sweep_figures(result, *, top: int = 20) -> dict[str, Any]:
    """Every figure of a sweep, by file name (see the module docstring for which apply).

    Args:
        result: a :class:`jaxch6.sweep.SweepResult` (e.g. from :func:`jaxch6.sweep.load`).
        top: trials in ``top20.png`` and ``parallel.png``.

    Returns:
        ``{file name: Figure}``; empty when the sweep has no trials.
    """
    return {name: globals()[function](*args, **kwargs)
            for name, (function, args, kwargs) in figure_calls(result, top).items()}


def figure_calls(result, top: int = 20) -> dict[str, tuple[str, tuple, dict]]:
    """``{file name: (name of a function of this module, args, kwargs)}``: the calls that
    draw :func:`sweep_figures` (plain data: trials, the space, titles), for
    :func:`write_figure_calls` here or in another process."""
    trials = list(result.trials)
    if not trials:
        return {}
    ranked = list(result.ranked)
    space = getattr(result.config, "space", None)
    best = ranked[0].val_acc[-1] if ranked[0].val_acc else math.nan
    what = "val acc" if _unit_range(trials) else _label(trials).removeprefix("final ")
    calls = {"top20.png": ("sweep_top_grid", (ranked,), {
                 "n": top, "title": f"{len(trials)} trials, best {what} {best!r}: validation "
                                    "solid, train dashed"}),
             "scatter.png": ("sweep_scatter", (trials,), {"space": space}),
             "parallel.png": ("sweep_parallel", (ranked[:top],), {"space": space, "top": top})}
    from jaxch6.sweep.schedulers import describe

    scheduler = describe(_scheduler(result))  # its figure and unit, from the registry
    if scheduler["figure"] == "rungs" or any(t.status == "stopped" for t in trials):
        calls["rungs.png"] = ("sweep_rungs", (trials,), {"unit": scheduler["unit"]})
    if scheduler["figure"] == "pbt" or any(t.lineage for t in trials):
        calls["pbt.png"] = ("sweep_pbt", ([t for t in trials if t.status != "stopped"],),
                            {"space": space})
    return calls


def write_sweep_figures(result, out_dir: str | os.PathLike | None = None, *,
                        top: int = 20) -> list[str]:
    """Write :func:`sweep_figures` into ``out_dir`` (default: the sweep's run directory).

    Args:
        result: a :class:`jaxch6.sweep.SweepResult`.
        out_dir: where to write them.
        top: trials in ``top20.png`` and ``parallel.png``.

    Returns:
        The file names written.

    Raises:
        ConfigError: no directory to write to, or a file cannot be written.
    """
    from jaxch6.errors import ConfigError

    out = out_dir if out_dir is not None else getattr(result, "out_dir", None)
    if out is None:
        raise ConfigError("write_sweep_figures: the sweep has no run directory; give out_dir")
    return write_figure_calls(figure_calls(result, top), out)


def write_figure_calls(calls: Mapping[str, tuple[str, tuple, dict]],
                       out_dir: str | os.PathLike) -> list[str]:
    """Draw :func:`figure_calls`' figures into ``out_dir``; returns the file names written."""
    for name, (function, args, kwargs) in calls.items():
        globals()[function](*args, path=str(Path(out_dir) / name), **kwargs)
    return list(calls)
