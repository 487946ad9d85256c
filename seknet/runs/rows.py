"""A run's rows: evaluations.csv's columns and accuracy fields, which rows may enter the front, the front, its knee,
and best.yaml."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seknet.core.count import count
from seknet.core.fileio import write_yaml
from seknet.core.pareto import knee, pareto_front
from seknet.core.stats import wilson_interval

ROW_COLUMNS = ["arch", "params", "macs", "attn_ops", "accuracy", "acc_low", "acc_high", "n_eval"]  # every run's rows
EVAL_COLUMNS = [*ROW_COLUMNS, "slice_accuracy", "on_front"]  # one-shot: scored with inherited weights
MT_COLUMNS = [*ROW_COLUMNS, "epochs_trained", "status", "error", "trial_id", "on_front"]  # a trained arch per trial
VERIFY_COLUMNS = [*ROW_COLUMNS, "trainings", "measured_accuracy", "on_front"]  # --verify: the stand-alone fit


def accuracy_fields(correct: int, n: int) -> dict:
    """The accuracy columns of a row: accuracy, its 95 % Wilson interval (acc_low, acc_high), n_eval."""
    lo, hi = wilson_interval(correct, n)
    return {
        "accuracy": round(correct / n, 6),
        "acc_low": round(lo, 6),
        "acc_high": round(hi, 6),
        "n_eval": n,
    }


def comparable_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows that may enter a front: complete (multi-trial ``status``) and scored on the full evaluation set.

    One-shot archs dropped by successive halving carry only a slice score (fewer ``n_eval``); failed,
    over-budget and early-stopped trials carry no final accuracy. Both are left out.
    """
    done = [r for r in rows if r.get("status", "complete") == "complete"]
    if not done:
        return []
    n_full = max(int(r["n_eval"]) for r in done)
    return [r for r in done if int(r["n_eval"]) == n_full]


def front_rows(rows: Sequence[dict], cost: str = "macs") -> list[dict]:
    """The non-dominated rows (lower ``cost`` column, ``macs`` or ``latency_ms``; higher accuracy) among
    :func:`comparable_rows`, by increasing cost."""
    full = comparable_rows(rows)
    idx = pareto_front([(float(r[cost]), float(r["accuracy"])) for r in full])
    return [full[i] for i in idx]


def knee_row(front: Sequence[dict], cost: str = "macs") -> dict:
    """The front's knee on the accuracy-``cost`` plane."""
    return front[knee([(float(r[cost]), float(r["accuracy"])) for r in front])]


def write_best(
    path: Path,
    space,
    front: Sequence[dict],
    budget: str | None,
    keys: Sequence[str],
    cost: str = "macs",
    indifference=None,
) -> dict:
    """Write the run's best arch as an arch YAML with its ``keys`` metrics, and return its row. ``indifference(best)``:
    the archs the run's evidence cannot tell from it (itself first), written as ``metrics.indifference``.

    Under a budget (``budget`` names its flag, e.g. ``--max-macs``) the best arch is the front's most accurate,
    otherwise the knee of the accuracy-``cost`` front.
    """
    best = front[-1] if budget else knee_row(front, cost)
    knee_of = "knee of the front" if cost == "macs" else f"knee of the accuracy-{cost} front"
    chosen_as = f"most accurate under {budget}" if budget else knee_of
    metrics = {k: best[k] for k in keys} | {"chosen_as": chosen_as}
    if indifference is not None:
        metrics["indifference"] = indifference(best)
    write_yaml(path, space.parse(best["arch"]).to_dict() | {"metrics": metrics})
    return best


def indistinct_pairs(front: Sequence[dict]) -> list[tuple[str, str]]:
    """Neighbouring front points whose 95 % accuracy intervals overlap: they cannot be told apart."""
    return [
        (a["arch"], b["arch"])
        for a, b in zip(front, front[1:], strict=False)
        if float(a["acc_high"]) >= float(b["acc_low"])
    ]


def trial_row(space, arch: str, **fields) -> dict:
    """A row of MT_COLUMNS for one trained arch (a trial), its counts filled in (blank for an arch that does not
    parse: its failure says why), the rest blank unless given in ``fields``."""
    row = dict.fromkeys(MT_COLUMNS, "") | {"arch": arch, "epochs_trained": 0, "on_front": 0}
    try:
        c = count(space.parse(arch))
        row |= {"params": c.params, "macs": c.macs, "attn_ops": c.attn_ops}
    except ValueError:
        pass
    return row | fields


def tune_row(space, epochs: int, arch: str, metrics: dict | None, error: str | None) -> dict:
    """The MT_COLUMNS row of one finished Tune trial (its arch, last metrics and error line): complete after
    ``epochs``, stopped early (ASHA), or failed with its reason."""
    m = metrics or {}
    row = trial_row(space, arch, trial_id=m.get("trial_id", ""), epochs_trained=m.get("epoch", 0))
    if error is not None:
        return row | {"status": "failed", "error": error}
    row |= accuracy_fields(int(m["correct"]), int(m["n_eval"]))
    return row | {"status": "complete" if m.get("epoch") == epochs else "stopped_early"}
