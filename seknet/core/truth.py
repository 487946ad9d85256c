"""Placement truth: what a factorial table of stand-alone trainings says, and how far a run's answer agrees with it.

The table (``benchmarks/truth/truth.csv``) holds stand-alone accuracies of archs under several seeds. The linear
model over the factorial (:mod:`seknet.core.factorial`: main effects and every two-stage interaction, seeds as
replicates) gives each stage's effect of SE vs none, SK vs none and SK vs SE averaged over the other stages'
levels, with a 95 % interval; a run is then checked against it (:func:`check_run`): do its placement answers
have the signs of the significant effects, how well does it rank the factorial archs (Kendall tau, beside
what one more stand-alone seed would reach), and what accuracy does its pick under a MAC budget give away.
Pure functions over rows (dicts as csv.DictReader gives them); numpy and scipy only.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from seknet.core.attention import stage_names
from seknet.core.decisions import MARGIN_PP
from seknet.core.factorial import Effect, fit, main_effects
from seknet.core.stats import one_seed_replication_tau

TRUTH_TYPES = {
    "arch": (str, False),
    "seed": (int, False),
    "epochs": (int, False),
    "accuracy": (float, False),
    "macs": (int, False),
}


def per_arch(rows: Sequence[dict]) -> dict[str, list[float]]:
    """{arch: [accuracy of each seed]} over the complete rows."""
    out: dict[str, list[float]] = {}
    for r in sorted(rows, key=lambda r: int(r["seed"])):
        out.setdefault(r["arch"], []).append(float(r["accuracy"]))
    return out


def factorial_rows(rows: Sequence[dict], epochs: int | None = None) -> list[dict]:
    """The rows of the full factorial: the archs whose every stage takes one of the table's factorial levels.

    The factorial levels are the choices seen in at least two stages' non-none positions of a multi-attention
    arch; in practice: the truth table's archs other than the single-stage r/M axes (those have three stages at
    none). ``epochs`` keeps the rows of that recipe only.
    """
    rows = [r for r in rows if epochs is None or int(r["epochs"]) == epochs]
    multi = {r["arch"] for r in rows if sum(c != "none" for c in stage_names(r["arch"])) >= 2}
    levels = {c for a in multi for c in stage_names(a)}
    return [r for r in rows if set(stage_names(r["arch"])) <= levels]


def largest_effect_stage(rows: Sequence[dict], epochs: int) -> int:
    """The stage whose largest |SE vs none| or |SK vs none| effect is the largest of all stages."""
    effects = [e for e in main_effects(fit(factorial_rows(rows, epochs))) if e.b == "none"]
    return max(effects, key=lambda e: abs(e.pp)).stage


def _placement_row(place: Sequence[dict], stage: int, choice: str, vs: str) -> dict | None:
    """The run's placement row of ``choice`` vs ``vs`` at ``stage`` (a file without ``vs`` compares with none)."""
    for p in place:
        if (
            int(p["stage"]) == stage
            and p["choice"] == choice
            and p.get("vs", "none") == vs
            and p["delta_accuracy"] != ""
        ):
            return p
    return None


def _placement_delta(place: Sequence[dict], stage: int, choice: str) -> float | None:
    """The run's answer for ``choice`` at ``stage``: its delta_accuracy vs none in pp (0 for none itself)."""
    if choice == "none":
        return 0.0
    p = _placement_row(place, stage, choice, "none")
    return None if p is None else float(p["delta_accuracy"]) * 100


def claims(place: Sequence[dict], effects: Sequence[Effect], margin: float = MARGIN_PP) -> dict[str, list[str]]:
    """Which of the truth's significant ``effects`` the run claims resolved (its ``claim``, or in older files its own
    interval excluding 0) with the truth's sign (``resolved``) and with the other sign (``wrong``), and which it
    claims ``negligible`` (|delta| < ``margin`` pp) although the truth's own 95 % interval lies beyond the margin
    (``negligible_wrong``). A run whose placement has no interval for a contrast resolves nothing of it."""
    out: dict[str, list[str]] = {"resolved": [], "wrong": [], "negligible_wrong": []}
    for e in effects:
        p = _placement_row(place, e.stage, e.a, e.b)
        if p is None:
            continue
        d = float(p["delta_accuracy"]) * 100 if p.get("delta_accuracy", "") != "" else float("nan")
        if p.get("claim") == "negligible" and (e.low > margin or e.high < -margin):
            out["negligible_wrong"].append(f"{e} but the run says {d:+.2f} pp, negligible (margin {margin:g} pp)")
        if _resolves(p):
            out["resolved" if d * e.pp > 0 else "wrong"].append(f"{e} and the run says {d:+.2f} pp, resolved")
    return out


def _resolves(p: dict) -> bool:
    """The run claims this contrast resolved: its ``claim`` column (placement files with claims), else its 95 %
    interval (``significant``, files written before claims)."""
    if p.get("claim", "") not in ("", None):
        return p["claim"] == "resolved"
    return str(p.get("significant", "")) == "1"


def regret(scores: dict[str, float], truth: dict[str, float], macs: dict[str, int], budget: int) -> float:
    """pp the run's first pick under ``budget`` (by its own ``scores``) loses to the truth's best under it; nan when
    the run scored no truth arch under it (e.g. a ``--verify`` run whose reduced levels are not the truth's)."""
    fits = [a for a in truth if macs[a] <= budget and a in scores]
    if not fits:
        return float("nan")
    pick = max(fits, key=lambda a: (scores[a], -macs[a]))
    return 100 * (max(truth[a] for a in fits) - truth[pick])


def epsilon_checks(decisions: Sequence[dict], truth: dict[str, float], macs: dict[str, int]) -> list[dict]:
    """For each decisions.csv row that claims an epsilon: the truth's gap between its best arch under the budget and
    the run's pick (pp), and whether "the pick is within epsilon of the best" held. Rows whose pick the truth has not
    measured, or that claim no epsilon, are left out."""
    out = []
    for d in decisions:
        if d.get("epsilon_pp", "") in ("", None) or d["pick"] not in truth:
            continue
        fits = [a for a in truth if macs[a] <= float(d["budget"])]
        gap = 100 * (max(truth[a] for a in fits) - truth[d["pick"]])
        eps = float(d["epsilon_pp"])
        out.append({"budget": d["budget"], "epsilon": eps, "gap": gap, "held": gap <= eps + 1e-9})
    return out


def check_run(
    truth_rows: Sequence[dict], run_rows: Sequence[dict], place: Sequence[dict], decisions: Sequence[dict] = ()
) -> dict:
    """How a run agrees with the truth table: placement signs, Kendall tau over the factorial archs, regret.

    ``truth_rows``: the factorial rows of the table; ``run_rows``: the run's evaluations.csv; ``place``: its
    placement.csv; ``decisions``: its decisions.csv. Returns agree (k: signs right), effects (K), disagreements (list
    of str), resolved and wrong (the effects the run claims resolved with the right and the wrong sign), tau,
    one_seed_tau, regret_pp ({quantile: pp}), epsilon (:func:`epsilon_checks`: did each epsilon claim hold).
    """
    from scipy.stats import kendalltau

    f = fit(truth_rows)
    significant = [e for e in main_effects(f) if e.significant]
    wrong = []
    for e in significant:
        a, b = _placement_delta(place, e.stage, e.a), _placement_delta(place, e.stage, e.b)
        if a is None or b is None or (a - b) * e.pp <= 0:
            run_says = "no answer" if a is None or b is None else f"{a - b:+.2f} pp"
            wrong.append(f"{e} but the run says {run_says}")
    seeds = per_arch(truth_rows)
    truth = {a: statistics.fmean(v) for a, v in seeds.items()}
    scores = {r["arch"]: float(r["accuracy"]) for r in run_rows if r["arch"] in truth and r["accuracy"] != ""}
    common = sorted(scores)
    tau = (
        float(kendalltau([scores[a] for a in common], [truth[a] for a in common]).statistic)
        if len(common) > 1
        else float("nan")
    )
    macs = {r["arch"]: int(r["macs"]) for r in truth_rows}
    qs = {q: int(np.quantile([macs[a] for a in truth], q / 100)) for q in (25, 50, 75)}
    return {
        "effects": len(significant),
        "agree": len(significant) - len(wrong),
        "disagreements": wrong,
        **claims(place, significant),
        "tau": tau,
        "archs": len(common),
        "one_seed_tau": one_seed_replication_tau(list(seeds.values())),
        "regret_pp": {q: regret(scores, truth, macs, b) for q, b in qs.items()},
        "budgets": qs,
        "epsilon": epsilon_checks(decisions, truth, macs),
    }


def format_checks(checks: dict[str, dict]) -> str:
    """The printed check: one block per run, then the mean and the worst over runs."""
    lines = []
    for run, c in checks.items():
        reg = ", ".join(f"{q} %: {v:.2f}" for q, v in c["regret_pp"].items())
        lines.append(
            f"{run}: resolves {len(c['resolved'])} of {c['effects']} significant effects with the right sign, "
            f"{len(c['wrong'])} with the wrong one; signs of {c['agree']} agree; Kendall tau "
            f"{c['tau']:.3f} over {c['archs']} archs (one new stand-alone seed: {c['one_seed_tau']:.3f}); "
            f"regret pp at MAC quantiles {reg}"
        )
        lines += [f"    wrong sign: {d}" for d in c["disagreements"]]
        lines += [
            f"    budget {e['budget']}: pick within {e['epsilon']:.2f} pp of the best? truth's gap {e['gap']:.2f} pp: "
            + ("held" if e["held"] else "FAILED")
            for e in c.get("epsilon", [])
        ]
        lines += [f"    RESOLVED WRONG: {d}" for d in c["wrong"]]
        lines += [f"    NEGLIGIBLE WRONG: {d}" for d in c.get("negligible_wrong", [])]
    if len(checks) > 1:
        cs = list(checks.values())
        taus, agree = [c["tau"] for c in cs], [c["agree"] for c in cs]
        reg = {q: statistics.fmean(c["regret_pp"][q] for c in cs) for q in cs[0]["regret_pp"]}
        res, wrong = [len(c["resolved"]) for c in cs], [len(c["wrong"]) for c in cs]
        negligible = sum(len(c.get("negligible_wrong", [])) for c in cs)
        lines.append(
            f"resolved: mean {statistics.fmean(res):.1f} (worst {min(res)}); resolved with the wrong sign: "
            f"{sum(wrong)} in all; called negligible against the truth: {negligible} in all"
        )
        lines.append(
            f"mean over {len(cs)} runs: tau {statistics.fmean(taus):.3f} (worst {min(taus):.3f}); agree "
            f"{statistics.fmean(agree):.1f} of {cs[0]['effects']} (worst {min(agree)}); mean regret pp "
            + ", ".join(f"{q} %: {v:.2f}" for q, v in reg.items())
        )
    return "\n".join(lines)
