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
