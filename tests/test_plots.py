"""The sweep figures: built with matplotlib's object API (the user's backend and pyplot are left
alone), titles carry the hyperparameter values, log axes for log ranges, categories as strips."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import matplotlib
import pytest
from matplotlib.figure import Figure

from jaxch6 import plots
from jaxch6.sweep import Param, SweepConfig, SweepResult, Trial, rank

SPACE = (Param("learning_rate", 1e-4, 1.0, "log"), Param("weight_decay", 0.0, 0.1, "lin"))


def _trial(i, lr, wd, acc, *, epochs=4, status="complete", rung=None, lineage=None, **hp):
    val = [acc * (e + 1) / epochs for e in range(epochs)]
    return Trial(i, 0, {"learning_rate": lr, "weight_decay": wd, **hp}, [v + 0.05 for v in val],
                 val, diverged=False, status=status, rung=rung, lineage=lineage)


TRIALS = [_trial(0, 0.01, 0.02, 0.5), _trial(1, 0.3, 0.07, 0.8),
          _trial(2, 2e-4, 0.001, 0.1, epochs=1, status="stopped", rung=0)]


def test_top_grid_titles_carry_the_values_and_epochs(tmp_path):
    fig = plots.sweep_top_grid(rank(TRIALS), tmp_path / "top.png", n=20, cols=5, title="T")
    assert isinstance(fig, Figure) and (tmp_path / "top.png").read_bytes()[:4] == b"\x89PNG"
    titles = _panel_titles(fig)
    assert titles[0] == "Best-1 (0.800)\nlearning_rate=0.3\nweight_decay=0.07"
    assert titles[1] == "Best-2 (0.500)\nlearning_rate=0.01\nweight_decay=0.02"
    assert titles[2].startswith("Best-3 (0.100), stopped at epoch 1\nlearning_rate=0.0002")
    (ax,) = fig.axes  # the panels are drawn in one axes
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4]  # Best-1's validation curve
    assert list(ax.lines[0].get_ydata()) == TRIALS[1].val_acc
    words = [t.get_text() for t in ax.texts]
    assert {"1", "2", "3", "4"} <= set(words)  # the epochs' tick values
    assert words.count("epoch") == words.count("accuracy") == len(ax.patches) == 3
    assert fig.get_suptitle() == "T"


def _panel_titles(fig) -> list[str]:
    """The titles of ``sweep_top_grid``'s panels (texts of its one axes), best first."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text().startswith("Best-")]


def test_scatter_has_log_axes_for_log_ranges_and_strips_for_categories():
    trials = [_trial(0, 0.01, 0.02, 0.5, activation="relu"),
              _trial(1, 0.3, 0.07, 0.8, activation="tanh"),
              _trial(2, 0.02, 0.05, 0.6, activation="relu")]
    space = (*SPACE, {"name": "activation", "choices": ["tanh", "relu", "sigmoid"]})
    fig = plots.sweep_scatter(trials, space=space)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert list(panels) == ["learning_rate", "weight_decay", "activation"]
    assert panels["learning_rate"].get_xscale() == "log"
    assert panels["weight_decay"].get_xscale() == "linear"
    act = panels["activation"]
    assert [t.get_text() for t in act.get_xticklabels()] == ["tanh", "relu", "sigmoid"]
    xs = sorted(x for c in act.collections for x, _ in c.get_offsets())
    assert [round(x) for x in xs] == [0, 1, 1]  # tanh strip, then two relu points


def test_scatter_without_a_space_takes_string_values_as_categories():
    trials = [_trial(0, 0.01, 0.02, 0.5, act="b"), _trial(1, 0.3, 0.07, 0.8, act="a")]
    fig = plots.sweep_scatter(trials)
    ax = [a for a in fig.axes if a.get_title() == "act"][0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert fig.axes[0].get_xscale() == "linear"  # no space: no scale known


def test_parallel_coordinates_of_the_top_trials():
    fig = plots.sweep_parallel(rank(TRIALS), space=SPACE, top=2)
    ax, bar = fig.axes  # the plot and its colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == \
        ["learning_rate (log)", "weight_decay", plots.ACC_LABEL]
    assert len(ax.lines) == 2 + 3  # two trials, three vertical axes
    assert ax.get_title().startswith("top 2 trials")
    best = ax.lines[1].get_ydata()  # drawn last: the best (lr 0.3 of 1e-4..1 in log space)
    assert best[0] == pytest.approx((-0.523 + 4) / 4, abs=1e-3) and best[2] == 1.0


def test_rungs_fade_stopped_trials():
    fig = plots.sweep_rungs(TRIALS)
    (ax,) = fig.axes
    assert ax.get_title() == "round 1/1: 3 trials, 2 trained to 4 epochs"
    grey = [c for c in ax.collections if c.get_alpha() < 0.5]  # the stopped trial, faint
    assert len(grey) == 1 and [len(p.vertices) for p in grey[0].get_paths()] == [1]
    assert [ln.get_xdata().tolist() for ln in ax.lines if ln.get_color() == "0.5"] == [[1]]
    (survivors,) = [c for c in ax.collections if c.get_alpha() > 0.5]
    assert [p.vertices[:, 0].tolist() for p in survivors.get_paths()] == [[1, 2, 3, 4]] * 2
    assert survivors.get_colors()[0].tolist() == list(matplotlib.colors.to_rgba("C0", 0.9))


def test_pbt_schedules_follow_the_lineage():
    lineage = [{"epoch": 0, "parent": None, "hparams": {"learning_rate": 0.01,
                                                        "weight_decay": 0.02}},
               {"epoch": 2, "parent": 1, "hparams": {"learning_rate": 0.1,
                                                     "weight_decay": 0.02}}]
    t = _trial(0, 0.1, 0.02, 0.5, lineage=lineage)
    fig = plots.sweep_pbt([t, _trial(1, 0.3, 0.07, 0.8)], space=SPACE)
    lr = [ax for ax in fig.axes if ax.get_title() == "learning_rate"][0]
    assert lr.get_yscale() == "log"
    assert [a.get_yscale() for a in fig.axes if a.get_title() == "weight_decay"] == ["linear"]
    schedule = [ln for ln in lr.lines if len(ln.get_ydata()) == 4][0]
    assert list(schedule.get_ydata()) == [0.01, 0.01, 0.1, 0.1]


@pytest.mark.slow
@pytest.mark.parametrize("scheduler, files", [
    ("random", ["top20.png", "scatter.png", "parallel.png"]),
    ("halving", ["top20.png", "scatter.png", "parallel.png", "rungs.png"]),
    ("pbt", ["top20.png", "scatter.png", "parallel.png", "pbt.png"]),
])
def test_write_sweep_figures(tmp_path, scheduler, files):
    trials = TRIALS if scheduler == "halving" else TRIALS[:2]
    if scheduler == "pbt":
        trials = [_trial(0, 0.1, 0.02, 0.5, lineage=[{"epoch": 0, "parent": None,
                                                      "hparams": trials[0].hparams}])]
    result = SweepResult(SweepConfig(space=SPACE, scheduler=scheduler), trials, [], {},
                         {"scheduler": {"name": scheduler}}, tmp_path)
    assert plots.write_sweep_figures(result) == files
    for f in files:
        assert (tmp_path / f).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_plotting_leaves_the_backend_and_pyplot_alone(tmp_path):
    before = matplotlib.get_backend()
    plots.sweep_top_grid(TRIALS, tmp_path / "a.png")
    plots.sweep_rungs(TRIALS, tmp_path / "b.png")
    assert matplotlib.get_backend() == before
    code = textwrap.dedent(f"""
        import sys, matplotlib
        matplotlib.use("svg")
        from jaxch6 import plots
        from jaxch6.sweep import Trial
        t = [Trial(0, 0, {{"learning_rate": 0.1}}, [0.5, 0.6], [0.4, 0.5], False)]
        plots.sweep_top_grid(t, {str(tmp_path / 'c.png')!r})
        plots.sweep_scatter(t)
        plots.sweep_parallel(t)
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_plots_module_never_selects_a_backend():
    import inspect

    source = inspect.getsource(plots)
    assert "matplotlib.use(" not in source and "import matplotlib.pyplot" not in source


def _labelled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def _check_top_panels(fig, n: int) -> None:
    """``sweep_top_grid``'s ``n`` panels: a title, both axis labels, a legend, each at least
    1.8 x 1.1 inches."""
    (ax,) = fig.axes
    words = [t.get_text() for t in ax.texts]
    assert fig.get_suptitle() and len(_panel_titles(fig)) == n
    assert words.count("epoch") == words.count("accuracy") == len(ax.patches) == n
    assert ax.get_legend() is not None
    assert all(p.get_width() >= 1.8 and p.get_height() >= 1.1 for p in ax.patches)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["random", "halving", "hyperband", "pbt"])
def test_every_figure_of_a_toy_sweep_explains_itself(tmp_path, scheduler):
    """Issue 21.6: each figure has a title, every data panel both axis labels, a legend or a
    colour bar naming the metric, stopped trials said to be stopped, rounds counted from 1,
    and the hyperparameters named as ``--space``, the ranking and ``trials.csv`` name them
    (``learning_rate``, never ``lr``)."""
    trials = [_trial(0, 0.01, 0.02, 0.5), _trial(1, 0.3, 0.07, 0.8),
              _trial(2, 2e-4, 0.001, 0.1, epochs=1, status="stopped", rung=0)]
    if scheduler == "random":
        trials = trials[:2]
    if scheduler == "pbt":
        trials = [_trial(i, lr, 0.02, acc, lineage=[
            {"epoch": 0, "parent": None, "hparams": {"learning_rate": lr, "weight_decay": 0.02}},
            {"epoch": 2, "parent": 1, "hparams": {"learning_rate": 0.3, "weight_decay": 0.02}},
        ])
            for i, (lr, acc) in enumerate([(0.01, 0.5), (0.3, 0.8)])]
    result = SweepResult(SweepConfig(space=SPACE, scheduler=scheduler), rank(trials), [], {},
                         {"scheduler": {"name": scheduler}}, tmp_path)
    figs = plots.sweep_figures(result)
    expected = {"top20.png", "scatter.png", "parallel.png"}
    expected |= {"rungs.png"} if scheduler in ("halving", "hyperband") else set()
    expected |= {"pbt.png"} if scheduler == "pbt" else set()
    assert set(figs) == expected
    ranking_words = {"learning_rate", "weight_decay"}
    for name, fig in figs.items():
        data_axes = [ax for ax in fig.axes if ax.axison and ax.get_label() != "<colorbar>"]
        if name == "top20.png":  # panels drawn by hand in one axes whose units are inches
            _check_top_panels(fig, len(trials))
        else:
            assert fig.get_suptitle() or data_axes[0].get_title(), name
            assert data_axes and all(_labelled(ax) for ax in data_axes), name
        text = " ".join([fig.get_suptitle(), *(ax.get_title() for ax in fig.axes),
                         *(t.get_text() for ax in fig.axes for t in ax.texts),
                         *(t.get_text() for ax in fig.axes for t in ax.get_xticklabels()),
                         *(ax.get_xlabel() + " " + ax.get_ylabel() for ax in fig.axes)])
        assert "lr" not in text.split() and "final_val_acc" not in text, name
        if name in ("top20.png", "scatter.png", "parallel.png"):  # they name hyperparameters
            assert all(w in text for w in ranking_words), name
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        if name in ("parallel.png", "pbt.png"):
            assert [b.get_ylabel() for b in bars] == [plots.ACC_LABEL], name
        else:
            assert legends, name
        w, h = fig.get_size_inches()
        for ax in data_axes:  # every panel at least 1.8 x 1.1 inches (180 x 110 px at 100 dpi)
            box = ax.get_position()
            assert box.width * w >= 1.8 and box.height * h >= 1.1, (name, box, w, h)
        fig.savefig(tmp_path / name, dpi=100)
    top = _panel_titles(figs["top20.png"])
    if scheduler in ("halving", "hyperband"):
        assert any("stopped at epoch 1" in t for t in top)
        legend = [t.get_text() for t in figs["rungs.png"].axes[0].get_legend().get_texts()]
        assert "stopped early" in legend
        unit = "bracket" if scheduler == "hyperband" else "round"
        assert figs["rungs.png"].axes[0].get_title().startswith(f"{unit} 1/1:")


def test_writing_a_figure_leaves_the_users_text_settings(tmp_path):
    with matplotlib.rc_context({"text.hinting": "auto"}):
        plots.sweep_scatter(TRIALS, tmp_path / "s.png", space=SPACE)
        assert matplotlib.rcParams["text.hinting"] == "auto"
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
