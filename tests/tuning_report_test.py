"""The search report: standard errors, whether the best trial stands out, and the small-validation warning."""

import pytest

from bert_cls.tuning.report import few_rows_warning, format_table, noise_note, standard_error


def row(trial_id, accuracy, rows=100):
    return {
        "trial_id": trial_id,
        "status": "COMPLETED",
        "learning_rate": 5e-5,
        "dropout": 0.1,
        "val_accuracy": accuracy,
        "val_accuracy_se": standard_error(accuracy, rows),
        "seconds": 12.0,
    }


def test_standard_error_is_binomial():
    assert standard_error(0.85, 100) == pytest.approx(0.0357, abs=1e-4)
    assert standard_error(1.0, 30) == 0.0 and standard_error(None, 30) is None


def test_a_best_within_noise_is_said_with_the_rows_that_would_tell():
    note = noise_note([row("03", 0.85), row("01", 0.84)], 100)
    assert "not distinguishable from trial 01" in note and "on 100 validation rows" in note
    # 4 (0.85*0.15 + 0.84*0.16) / 0.01^2 = 10,476 rows
    assert "needs about 10,476 rows" in note
    assert "their accuracies are equal" in noise_note([row("1", 0.5), row("2", 0.5)], 30)


def test_a_clear_best_gets_no_note():
    assert noise_note([row("1", 0.90, 2000), row("2", 0.80, 2000)], 2000) is None
    assert noise_note([row("1", 0.9)], 100) is None  # no runner-up


def test_few_validation_rows_are_warned_about():
    assert "30 validation rows: one row is 3.3 points" in few_rows_warning(30)
    assert few_rows_warning(200) is None


def test_the_table_shows_accuracy_with_its_standard_error():
    table = format_table([row("1", 0.85), {**row("2", None), "seconds": None}], "val_accuracy")
    assert "val_accuracy ± se" in table.splitlines()[0]
    assert "0.8500 ± 0.0357" in table
    assert table.splitlines()[2].split()[-1] == "-"
