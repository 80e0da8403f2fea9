"""companion.results: the table every application study ends on."""
import time

import pytest

from companion.results import Results, timed


def test_rows_best_and_frame():
    t = Results(["accuracy", "log loss"], lower_is_better=["log loss"])
    t.add("naive", "NumPy", 0.0, accuracy=0.1, **{"log loss": 2.3})
    t.add("MLP", "PyTorch", 3.2, accuracy=0.9, **{"log loss": 0.3})
    t.add("MLP", "Keras", 4.1, accuracy=0.92, **{"log loss": 0.35})
    assert t.best("accuracy")["framework"] == "Keras"
    assert t.best("log loss")["framework"] == "PyTorch"
    assert t.best("accuracy", frameworks=["NumPy"])["model"] == "naive"
    assert t.value("MLP", "PyTorch", "accuracy") == 0.9
    frame = t.frame()
    assert list(frame.columns) == ["model", "framework", "accuracy", "log loss",
                                   "training seconds"] and len(frame) == 3 == len(t)


@pytest.mark.parametrize("kwargs, match", [
    ({"seconds": 1.0}, "missing \\['accuracy'\\]"),
    ({"seconds": 1.0, "accuracy": 0.5, "f1": 0.4}, "unexpected \\['f1'\\]"),
    ({"seconds": 1.0, "accuracy": float("nan")}, "not a finite number"),
    ({"seconds": -1.0, "accuracy": 0.5}, "seconds must be"),
])
def test_bad_rows_are_refused(kwargs, match):
    t = Results(["accuracy"])
    with pytest.raises(ValueError, match=match):
        t.add("m", "PyTorch", **kwargs)


def test_duplicates_unknown_metrics_and_empty_tables_are_refused():
    with pytest.raises(ValueError, match="non-empty"):
        Results([])
    with pytest.raises(ValueError, match="lower_is_better"):
        Results(["accuracy"], lower_is_better=["mae"])
    t = Results(["accuracy"])
    t.add("m", "Keras", 1.0, accuracy=0.5)
    with pytest.raises(ValueError, match="already"):
        t.add("m", "Keras", 1.0, accuracy=0.6)
    with pytest.raises(ValueError, match="unknown metric"):
        t.best("mae")
    with pytest.raises(KeyError, match="no row"):
        t.value("m", "PyTorch", "accuracy")


def test_timed_measures_the_block():
    with timed() as clock:
        time.sleep(0.05)
    assert 0.04 < clock.seconds < 1.0
