"""Architecture figures of companion.plots: they draw, and bad input is refused."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from companion import plots  # noqa: E402


def test_pipeline_draws_one_box_per_stage_and_a_legend_of_kinds():
    ax = plots.draw_pipeline([("input", "1 x 32 x 32", "input"), ("C1", "6 @ 28x28", "conv"),
                              ("F6", "84", "dense"), ("output", "10", "output")], title="t")
    assert len(ax.patches) >= 4 + 3            # four boxes and three arrows
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["conv", "dense", "output"]
    plt.close("all")


def test_pipeline_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        plots.draw_pipeline([("x", "", "input"), ("y", "", "attention")])


def test_resnet_figure_has_the_blocks_and_the_network():
    left, right = plots.draw_resnet()
    texts = {t.get_text() for t in left.texts} | {t.get_text() for t in right.texts}
    assert {"basic block", "bottleneck block", "ResNet-18: 11,689,512 parameters"} <= texts
    plt.close("all")


def test_paths_are_drawn_over_the_contours_with_the_minimum_marked():
    import numpy as np

    paths = {"a": np.array([[1.0, 1.0], [0.5, 0.2], [0.0, 0.0]]), "b": np.array([[-1.0, 0.5], [0.0, 0.1]])}
    ax = plots.plot_paths(lambda w: (w ** 2).sum(axis=-1), paths)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["a", "b"]
    star = ax.get_lines()[2]
    assert abs(star.get_xdata()[0]) < 0.02 and abs(star.get_ydata()[0]) < 0.02
    plt.close("all")


def test_lstm_cell_is_built_up_one_gate_at_a_time():
    gates = ["$f_t$\n$\\sigma$", "$i_t$\n$\\sigma$", "$g_t$\ntanh", "$o_t$\n$\\sigma$"]
    for n, stage in enumerate(plots.LSTM_STAGES, start=1):
        texts = {t.get_text() for t in plots.draw_lstm_cell(upto=stage).texts}
        assert [g in texts for g in gates] == [True] * n + [False] * (4 - n)
        assert ("$h_t$" in texts) == (stage == "output")
    whole, last = plots.draw_lstm_cell(), plots.draw_lstm_cell(upto="output")
    assert len(whole.patches) == len(last.patches) and len(whole.texts) == len(last.texts)
    plt.close("all")


def test_lstm_cell_rejects_an_unknown_stage():
    with pytest.raises(ValueError, match="upto must be one of"):
        plots.draw_lstm_cell(upto="candidate")
