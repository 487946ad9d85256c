"""decisions.csv: one row per budget, the run's pick, the archs its evidence cannot tell from it and how far from the
best it may be (``seknet.core.decisions``), and the lines the report prints of them.

The budgets are the run's ``--max-macs`` (or ``--max-latency`` on the latency objective) where given, else the 25,
50 and 75 % quantiles of the cost of the archs the run evaluated (those ``search.py check`` scores regret at).
"""

from __future__ import annotations

from collections.abc import Sequence

from seknet.core.decisions import Decision, Evidence, decide, quantile_budgets

COLUMNS = ["budget", "pick", "epsilon_pp", "confidence", "indifference", "cheapest", "fastest", "evidence"]


def budgets(costs: Sequence[float], given: float | None) -> list[float]:
    """A run's budgets: the one it was given, else the quartiles of its evaluated archs' ``costs``."""
    return [float(given)] if given is not None else quantile_budgets(costs)


def decision_rows(
    ev: Evidence | None,
    rows: Sequence[dict],
    cost: str,
    given: float | None,
    confidence: float,
    evidence: str,
    indifferent=None,
    looks: int = 1,
) -> list[dict]:
    """decisions.csv's rows. With ``ev`` (the run's estimates and their covariance), each budget's
    :func:`seknet.core.decisions.decide`. Without it (no measure of the training noise), the pick is the most accurate
    row and ``indifferent(pick, candidates)`` gives the archs it cannot be told from on the evidence there is; no
    epsilon is claimed. ``evidence`` says what the decision rests on."""
    by_arch = {r["arch"]: r for r in rows if r.get("status", "complete") == "complete" and r.get(cost, "") != ""}
    costs = {a: float(r[cost]) for a, r in by_arch.items()}
    out = []
    for b in budgets(list(costs.values()), given):
        if ev is not None:
            d = decide(ev, costs, b, confidence, looks=looks)
        else:
            d = _unclaimed(by_arch, costs, b, confidence, indifferent)
        if d is None:
            continue
        out.append(_row(d, by_arch, cost, evidence, ev is not None))
    return out


def _unclaimed(by_arch: dict, costs: dict, budget: float, confidence: float, indifferent) -> Decision | None:
    fits = [a for a in by_arch if costs[a] <= budget]
    if not fits:
        return None
    pick = max(fits, key=lambda a: (float(by_arch[a]["accuracy"]), -costs[a]))
    tied = indifferent(pick, fits) if indifferent is not None else []
    return Decision(budget, pick, float("nan"), confidence, (pick, *(a for a in tied if a != pick)))


def _row(d: Decision, by_arch: dict, cost: str, evidence: str, claimed: bool) -> dict:
    macs = {a: int(by_arch[a]["macs"]) for a in d.indifference}
    has_ms = all(by_arch[a].get("latency_ms", "") != "" for a in d.indifference)
    fastest = min(d.indifference, key=lambda a: (float(by_arch[a]["latency_ms"]), a)) if has_ms else ""
    return {
        "budget": int(d.budget) if cost == "macs" else round(d.budget, 4),
        "pick": d.pick,
        "epsilon_pp": round(d.epsilon_pp, 3) if claimed else "",
        "confidence": d.confidence if claimed else "",
        "indifference": " ".join(d.indifference),
        "cheapest": min(d.indifference, key=lambda a: (macs[a], a)),
        "fastest": fastest,
        "evidence": evidence,
    }


NO_NOISE = "supernet scores: image noise only, the training noise not measured"


def decider(rows: Sequence[dict], cost: str, confidence: float, evidence: tuple | None, hits: dict | None):
    """``given -> decisions.csv rows`` for a run: on its ``evidence`` ((Evidence, what it is, looks), --verify's fit)
    when it has one, else on its rows, the archs a pick cannot be told from then found by a paired test over the
    images (``hits``) or by their binomial intervals, and no epsilon claimed."""
    if evidence is not None:
        ev, what, looks = evidence
        return lambda given: decision_rows(ev, rows, cost, given, confidence, what, looks=looks)
    by_arch = {r["arch"]: r for r in rows}

    def indifferent(pick: str, candidates: list[str]) -> list[str]:
        return image_indifferent(by_arch, hits, pick, candidates, confidence)

    return lambda given: decision_rows(None, rows, cost, given, confidence, NO_NOISE, indifferent)


def image_indifferent(by_arch: dict, hits: dict | None, pick: str, candidates: list[str], confidence: float) -> list:
    """The ``candidates`` that a one-sided test at ``confidence`` cannot put below ``pick`` on the images alone: paired
    over the images both were scored on (``hits``) where there are hits, else on the two binomial variances."""
    from scipy.stats import norm

    z = float(norm.ppf(confidence))
    out = []
    for a in candidates:
        if a == pick:
            continue
        if hits is not None and a in hits and pick in hits:
            d = hits[pick].double() - hits[a].double()
            gap, se = float(d.mean()), float(d.std()) / len(d) ** 0.5 if len(d) > 1 else 0.0
        else:
            p, q = float(by_arch[pick]["accuracy"]), float(by_arch[a]["accuracy"])
            n, m = int(by_arch[pick]["n_eval"]), int(by_arch[a]["n_eval"])
            gap, se = p - q, (p * (1 - p) / n + q * (1 - q) / m) ** 0.5
        if gap <= z * se:
            out.append(a)
    return sorted(out, key=lambda a: -float(by_arch[a]["accuracy"]))


def report_lines(decisions: Sequence[dict], cost: str) -> list[str]:
    """The report's decisions: per budget the pick, epsilon at its confidence (or why none is claimed), and how many
    archs the evidence cannot tell from it, with the cheapest of them."""
    if not decisions:
        return []
    unit = "MACs" if cost == "macs" else "ms"
    lines = [f"Decisions ({decisions[0]['evidence']}):"]
    for d in decisions:
        budget = f"{int(d['budget']):,} {unit}" if cost == "macs" else f"{float(d['budget']):g} {unit}"
        tied = d["indifference"].split()
        if d["epsilon_pp"] != "":
            claim = f"within {float(d['epsilon_pp']):.2f} pp of the best under it at confidence {d['confidence']}"
        else:
            claim = "no epsilon claimed (the run measured no training noise)"
        also = f"; {len(tied) - 1} other arch(s) cannot be told from it, cheapest {d['cheapest']}" if tied[1:] else ""
        lines.append(f"  under {budget}: {d['pick']}, {claim}{also}")
    return lines
