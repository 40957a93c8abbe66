"""What a search reports: one row per trial (``trials.csv``, ``trials.json``, ``trials.png``, the printed table), each
with its validation accuracy's standard error, and whether the best trial can be told from the runner-up at all.

On small validation sets the trials of a search are often within noise of each other: with 100 validation rows one
row is a point of accuracy and the standard error of an accuracy near 85% is 3.6 points. The error is binomial
(``sqrt(p (1 - p) / n)``); two trials are called distinguishable when their accuracies differ by at least twice the
standard error of the difference (``sqrt(se1^2 + se2^2)``, which treats them as independent: the same validation
rows make it conservative).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Optional

from bert_cls.json_files import write_json
from bert_cls.training.plots import plot_trials

TRIAL_SUMMARY = "trial_summary.json"
ACCURACY = "val_accuracy"
# Below this many validation rows, a search's differences are mostly noise (one row is half a point).
FEW_VALIDATION_ROWS = 200


def standard_error(accuracy: Optional[float], rows: int) -> Optional[float]:
    """The binomial standard error of an accuracy measured on ``rows`` examples."""
    if accuracy is None or rows < 1:
        return None
    return math.sqrt(max(accuracy * (1 - accuracy), 0.0) / rows)


def collect_trials(tuner, objective: str, validation_rows: int) -> list:
    """One row per trial: hyperparameters, status, objective, validation accuracy and its standard error, seconds."""
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        summary_file = Path(tuner.get_trial_dir(trial_id)) / TRIAL_SUMMARY
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
        value = trial.metrics.get_best_value(objective) if trial.metrics.exists(objective) else None
        accuracy = summary.get("metrics", {}).get(ACCURACY)
        rows.append(
            {
                "trial_id": trial_id,
                "status": trial.status,
                "learning_rate": trial.hyperparameters.get("learning_rate"),
                "dropout": trial.hyperparameters.get("dropout"),
                "epochs": summary.get("epochs"),
                objective: value,
                **({} if objective == ACCURACY else {ACCURACY: accuracy}),
                f"{ACCURACY}_se": standard_error(accuracy, validation_rows),
                "validation_rows": validation_rows,
                "seconds": summary.get("seconds"),
                "tuner_id": summary.get("tuner_id"),
                "model_dir": summary.get("model_dir"),
            }
        )
    return rows


def noise_note(ranked: list, validation_rows: int) -> Optional[str]:
    """A line when the best trial (``ranked[0]``) cannot be told from the runner-up on this validation set, with the
    rows that would tell a difference of their size apart; ``None`` when it can (or there is no runner-up)."""
    if len(ranked) < 2 or ranked[0].get(ACCURACY) is None or ranked[1].get(ACCURACY) is None:
        return None
    best, second = ranked[0], ranked[1]
    p1, p2 = best[ACCURACY], second[ACCURACY]
    spread = p1 * (1 - p1) + p2 * (1 - p2)
    difference = abs(p1 - p2)
    if difference >= 2 * math.sqrt(spread / validation_rows):
        return None
    needed = (
        f"a difference of {difference * 100:.1f} points needs about {math.ceil(4 * spread / difference**2):,} rows to stand "
        "out (two standard errors)"
        if difference > 0
        else "their accuracies are equal"
    )
    return (
        f"note: the best trial {best['trial_id']} ({p1:.1%} ± {math.sqrt(p1 * (1 - p1) / validation_rows):.1%}) is not "
        f"distinguishable from trial {second['trial_id']} ({p2:.1%} ± {math.sqrt(p2 * (1 - p2) / validation_rows):.1%}) "
        f"on {validation_rows:,} validation rows: {needed}"
    )


def few_rows_warning(validation_rows: int) -> Optional[str]:
    """Why a search on a small validation set picks among noise."""
    if validation_rows >= FEW_VALIDATION_ROWS:
        return None
    return (
        f"{validation_rows} validation rows: one row is {100 / max(validation_rows, 1):.1f} points of accuracy, so trials "
        f"that differ by a few points are noise; give the search at least {FEW_VALIDATION_ROWS} (a larger "
        "--validation-split or --validation-file)"
    )


def write_reports(rows: list, objective: str, project_dir: Path, best: Optional[dict]) -> dict:
    fields = list(rows[0]) if rows else ["trial_id"]
    with open(project_dir / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    write_json(project_dir / "trials.json", rows)
    if best is not None:
        write_json(project_dir / "best_hyperparameters.json", best)
    png = plot_trials(rows, objective, project_dir / "trials.png")
    return {
        "csv": str(project_dir / "trials.csv"),
        "json": str(project_dir / "trials.json"),
        "png": str(png),
        "best": str(project_dir / "best_hyperparameters.json"),
    }


def _cell(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: list, objective: str) -> str:
    """The trials as a table: the objective, and the validation accuracy with its standard error."""
    accuracy_column = f"{ACCURACY} ± se"
    header = (
        f"{'trial':>6} {'status':>10} {'learning_rate':>14} {'dropout':>8} {objective:>13} {accuracy_column:>18} {'seconds':>8}"
    )
    lines = [header]
    for r in rows:
        accuracy, error = r.get(ACCURACY, r.get(objective)), r.get(f"{ACCURACY}_se")
        spread = f"{accuracy:.4f} ± {error:.4f}" if accuracy is not None and error is not None else "-"
        lines.append(
            f"{r['trial_id']:>6} {r['status']:>10} {r['learning_rate']:>14.3g} {r['dropout']:>8.3f} "
            f"{_cell(r[objective], '.4f'):>13} {spread:>18} {_cell(r['seconds'], '.0f'):>8}"
        )
    return "\n".join(lines)
