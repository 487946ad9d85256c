"""study.db: a run as an Optuna study, so that optuna-dashboard shows it (Pareto front, parameter importances,
parallel coordinates, the trial table) without a viewer of our own.

One RDB storage (SQLite) per run folder, one study in it named after the run, directions (accuracy: maximize, the
run's cost, MACs or latency_ms: minimize). Each evaluated arch is a trial whose params are its per-stage choices
(``stage0`` ... categorical over the space's choices) and whose values are (accuracy, cost):

- COMPLETE: a complete arch scored on the full evaluation set (the rows a front may hold), so
  ``study.best_trials`` is the run's front (pareto.csv; archs with exactly equal values both count for Optuna);
- PRUNED: an arch that successive halving dropped after its slice, or that early stopping stopped (its accuracy
  so far as the intermediate value);
- FAIL: a failed trial, its reason in the ``error`` attribute.

User attributes carry the arch, the accuracy interval, the evaluation size, params, MACs, attention ops, latency
where known, --verify's stand-alone evidence (measured_accuracy, trainings), ``retrain``'s (standalone_accuracy over
its seeds with a 95 % interval, :func:`standalone_evidence`), whether it is on the front, and the budgets under
which it is the pick or in the pick's indifference set (decisions.csv).

Optuna's ``add_trials`` commits every trial on its own (about 8 ms a trial in SQLite, half a minute for 4,096);
:func:`write_study` instead inserts every row of a new study in one transaction through Optuna's own table models,
into a temporary file renamed into place, so a crash never leaves a half-written study.db.

A multi-trial or ``--verify`` run also writes its Tune trials while it runs (:func:`live_trial`, one commit per
finished trial), each with its per-epoch validation accuracy as intermediate values, so the dashboard shows the
finished trials and their learning curves before the run ends; the final write keeps those curves
(:func:`live_curves`).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import warnings
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from seknet.core.attention import stage_names
from seknet.core.stats import wilson_interval
from seknet.runs.rows import tune_row

if TYPE_CHECKING:
    from seknet.core.space import Space
    from seknet.runs.objective import Objective

STUDY_FILE = "study.db"
ATTRS = ("arch", "acc_low", "acc_high", "n_eval", "params", "macs", "attn_ops", "latency_ms", "on_front")
ATTRS += ("slice_accuracy", "measured_accuracy", "trainings", "epochs_trained", "status", "error", "trial_id")
TEXT_ATTRS = ("arch", "status", "error", "trial_id")  # kept as written: a Tune id such as 67393770 is no number


def trials_of(
    rows: Sequence[dict],
    cost: str,
    decisions: Sequence[dict] = (),
    curves: dict[str, dict[int, float]] | None = None,
    standalone: dict[str, dict] | None = None,
) -> list[dict]:
    """{state, values, params, attrs, intermediate} of each evaluations.csv row (see the module doc); ``curves``:
    the per-epoch accuracy of a row's ``trial_id`` (:func:`live_curves`), its intermediate values; ``standalone``:
    retrain's attributes of an arch (:func:`standalone_evidence`)."""
    done = [r for r in rows if r.get("status", "complete") == "complete" and r.get("accuracy", "") != ""]
    n_full = max((int(r["n_eval"]) for r in done), default=0)
    picks: dict[str, list[float]] = {}
    tied: dict[str, list[float]] = {}
    for d in decisions:
        picks.setdefault(d["pick"], []).append(float(d["budget"]))
        for a in str(d["indifference"]).split():
            tied.setdefault(a, []).append(float(d["budget"]))
    out = []
    for r in rows:
        status = r.get("status", "complete")
        full = status == "complete" and r.get("accuracy", "") != "" and int(r["n_eval"]) == n_full
        state = "COMPLETE" if full else "FAIL" if status == "failed" else "PRUNED"
        attrs = {k: r[k] if k in TEXT_ATTRS else _plain(r[k]) for k in ATTRS if r.get(k, "") != ""}
        attrs |= {"pick_under": picks.get(r["arch"], []), "indifferent_under": tied.get(r["arch"], [])}
        attrs |= (standalone or {}).get(r.get("arch", ""), {})
        params = dict(enumerate(stage_names(r["arch"]))) if r.get("arch") else {}  # a trial that failed before its arch
        trial = {"state": state, "params": params, "attrs": attrs}
        if full:
            trial["values"] = [float(r["accuracy"]), float(r[cost])]
        elif r.get("accuracy", "") != "" and status != "failed":
            trial["intermediate"] = {0: float(r["accuracy"])}
        if curve := (curves or {}).get(str(r.get("trial_id", ""))):
            trial["intermediate"] = curve
        out.append(trial)
    return out


def write_study(path: Path, studies: dict[str, tuple[list[dict], str, Sequence[str]]]) -> Path:
    """Write a new SQLite Optuna storage at ``path`` holding one study per entry ``{name: (trials, cost, choices)}``
    (``trials`` from :func:`trials_of`), in one transaction, atomically replacing ``path``."""
    import optuna
    from optuna.storages._rdb import models
    from sqlalchemy import insert

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # SQLite makes the file itself
    try:
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
        rows: dict[str, list[dict]] = {"trials": [], "params": [], "values": [], "attrs": [], "steps": []}
        for name, (trials, cost, choices) in studies.items():
            study = optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # set_metric_names is marked experimental
                study.set_metric_names(["accuracy", cost])
            _add_rows(rows, study._study_id, trials, choices)
        tables = {
            "trials": models.TrialModel,
            "params": models.TrialParamModel,
            "values": models.TrialValueModel,
            "attrs": models.TrialUserAttributeModel,
            "steps": models.TrialIntermediateValueModel,
        }
        with storage.engine.begin() as connection:  # one transaction
            for key, model in tables.items():
                if rows[key]:
                    connection.execute(insert(model.__table__), rows[key])
        storage.engine.dispose()
        from seknet.core.fileio import umask_mode

        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _add_rows(rows: dict[str, list[dict]], study_id: int, trials: list[dict], choices: Sequence[str]) -> None:
    """Append the table rows of one study's ``trials`` to ``rows`` (trial ids continue from the rows already there),
    as Optuna's own storage would store them."""
    from optuna.distributions import CategoricalDistribution, distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    now = datetime.now()
    dist = CategoricalDistribution(list(choices))
    dist_json = distribution_to_json(dist)
    for number, t in enumerate(trials):
        trial_id = len(rows["trials"]) + 1
        rows["trials"].append(
            {"trial_id": trial_id, "number": number, "study_id": study_id, "state": TrialState[t["state"]]}
            | {"datetime_start": now, "datetime_complete": now}
        )
        for stage, choice in t["params"].items():
            rows["params"].append(
                {"trial_id": trial_id, "param_name": f"stage{stage}", "distribution_json": dist_json}
                | {"param_value": dist.to_internal_repr(choice)}
            )
        for objective, value in enumerate(t.get("values", [])):
            stored, kind = models.TrialValueModel.value_to_stored_repr(value)
            rows["values"].append({"trial_id": trial_id, "objective": objective, "value": stored, "value_type": kind})
        for key, value in t["attrs"].items():
            rows["attrs"].append({"trial_id": trial_id, "key": key, "value_json": json.dumps(value)})
        for step, value in t.get("intermediate", {}).items():
            stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
            rows["steps"].append(
                {"trial_id": trial_id, "step": step, "intermediate_value": stored, "intermediate_value_type": kind}
            )


SQLITE_WAIT_S = 60.0  # how long a write or read of study.db waits for another process's lock (a dashboard's read)


def sqlite_storage(path: Path, **kwargs):
    """Optuna's RDB storage of the SQLite file ``path``, whose statements wait up to ``SQLITE_WAIT_S`` for another
    process's lock (a dashboard reading a live run, the run writing a trial) instead of failing at once."""
    import optuna

    engine = {"connect_args": {"timeout": SQLITE_WAIT_S}}
    return optuna.storages.RDBStorage(f"sqlite:///{Path(path).resolve()}", engine_kwargs=engine, **kwargs)


def _live_study(storage, name: str, cost: str):
    """Study ``name`` of ``storage`` with the run's directions and metric names (accuracy, ``cost``), made when
    missing."""
    import optuna

    study = optuna.create_study(
        storage=storage, study_name=name, directions=["maximize", "minimize"], load_if_exists=True
    )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # set_metric_names is marked experimental
            study.set_metric_names(["accuracy", cost])
    return study


def _create_live_study(path: Path, name: str, cost: str) -> None:
    """Create the SQLite storage ``path`` holding the empty study ``name`` whole, or leave the one another process
    made first: Optuna creates its tables in several transactions, so a reader (a dashboard, a test) that opened the
    file half made would try to create them too and one of the two would fail. The file is built beside ``path``
    and linked into place, which fails when ``path`` exists."""

    part = path.with_name(f".{path.name}.{os.getpid()}.new")
    part.unlink(missing_ok=True)
    storage = sqlite_storage(part)
    try:
        _live_study(storage, name, cost)
    finally:
        storage.engine.dispose()
    try:
        os.link(part, path)
    except FileExistsError:
        pass
    finally:
        part.unlink()


def add_live_trial(path: Path, name: str, cost: str, choices: Sequence[str], trial: dict) -> bool:
    """Add one finished ``trial`` (of :func:`trials_of`) to study ``name`` in the SQLite storage ``path`` (created
    with the run's directions on first use), unless a trial with its ``trial_id`` attribute is there already (a
    resumed run reruns a trial that finished after the last save); returns whether it was added."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not Path(path).is_file():
        _create_live_study(Path(path), name, cost)
    storage = sqlite_storage(path, skip_table_creation=True)
    try:
        study = _live_study(storage, name, cost)
        key = trial["attrs"].get("trial_id")
        if key is not None and any(t.user_attrs.get("trial_id") == key for t in study.get_trials(deepcopy=False)):
            return False
        dist = CategoricalDistribution(list(choices))
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[trial["state"]],
                values=trial.get("values"),
                params={f"stage{i}": c for i, c in trial["params"].items()},
                distributions={f"stage{i}": dist for i in trial["params"]},
                user_attrs=trial["attrs"],
                intermediate_values=trial.get("intermediate", {}),
            )
        )
        return True
    finally:
        storage.engine.dispose()


def live_trial(
    space: Space, objective: Objective, epochs: int, name: str, folder: Path, job, metrics, curve, error
) -> None:
    """Add one finished Tune trial (a multi-trial trial, or a --verify training) to study ``name`` in the study.db of
    the running run that holds the experiment ``folder`` (that folder or the nearest one above it with a config.yaml):
    its row as ``tune_row`` gives it, its accuracy per epoch as intermediate values. The study is a view: a write
    that fails is reported in one line and the run goes on (its final study is written from its rows at the end)."""
    run = next((p for p in (folder, *folder.parents) if (p / "config.yaml").is_file()), folder)
    path = run / STUDY_FILE
    try:
        trained = int(job.get("epochs", epochs))  # a job's own (a verify continuation's: its whole schedule)
        row = objective.with_latency([tune_row(space, trained, job["arch"], metrics, error)], space)[0]
        trial = trials_of([row], objective.column)[0]
        if curve:
            trial["intermediate"] = curve
        add_live_trial(path, name, objective.column, space.choices, trial)
    except Exception as e:  # noqa: BLE001 - sqlite locked, disk full, ...: the view is not worth the run
        print(f"warning: {path}: trial {metrics.get('trial_id', '?')} not added to the live study ({e})", flush=True)


def live_curves(path: Path) -> dict[str, dict[int, float]]:
    """{trial_id: {epoch: accuracy}} of the trials a running run wrote into ``path`` (:func:`add_live_trial`); empty
    when there is no such file, or when it cannot be read (a view damaged by a kill: the curves are lost, the run's
    results are not)."""
    if not Path(path).is_file():
        return {}
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = sqlite_storage(path, skip_table_creation=True)
    except Exception:  # noqa: BLE001 - sqlalchemy and optuna raise many kinds on a damaged file
        return {}
    try:
        out = {}
        for summary in optuna.get_all_study_summaries(storage):
            for t in optuna.load_study(study_name=summary.study_name, storage=storage).get_trials(deepcopy=False):
                if "trial_id" in t.user_attrs and t.intermediate_values:
                    out[str(t.user_attrs["trial_id"])] = dict(t.intermediate_values)
        return out
    except Exception:  # noqa: BLE001 - as above
        return {}
    finally:
        storage.engine.dispose()


def _plain(value: str) -> object:
    """A CSV cell of a numeric column as the JSON value a dashboard sorts by: a number where it is one, else the text
    (the text columns, ``TEXT_ATTRS``, are never passed here)."""
    for kind in (int, float):
        try:
            return kind(value)
        except (TypeError, ValueError):
            pass
    return value


def run_study(run: Path) -> tuple[list[dict], str, Sequence[str]]:
    """(trials, cost, choices) of a finished run folder, read from its files (evaluations.csv, config.yaml and, where
    it has them, decisions.csv, retrain.csv and the learning curves of its study.db): what :func:`write_study` writes
    for it. A damaged file is one ValueError naming it."""
    from seknet.runs.files import RETRAIN_TYPES, load_run, read_table
    from seknet.runs.objective import column

    done = load_run(run)
    cost = column(done.config["config"].get("objective", "macs"))
    file, retrained = Path(run) / "decisions.csv", Path(run) / "retrain.csv"
    decisions = read_table(file, {"budget": (float, False), "pick": (str, False)}) if file.is_file() else []
    standalone = standalone_evidence(read_table(retrained, RETRAIN_TYPES)) if retrained.is_file() else {}
    curves = live_curves(Path(run) / STUDY_FILE)
    return trials_of(done.rows, cost, decisions, curves, standalone), cost, done.space.choices


def standalone_evidence(retrained: Sequence[dict]) -> dict[str, dict]:
    """{arch: study attributes} of retrain.csv's complete rows: ``standalone_accuracy`` (the mean over its seeds),
    ``standalone_low`` / ``standalone_high`` (95 %: a t interval over the seeds; with one seed, the Wilson interval of
    its test count, image noise only), ``standalone_seeds`` and ``standalone_interval`` (which of the two)."""
    from scipy.stats import t

    per: dict[str, list[dict]] = {}
    for r in retrained:
        if r["status"] == "complete":
            per.setdefault(r["arch"], []).append(r)
    out = {}
    for arch, rs in per.items():
        accs = [float(r["accuracy"]) for r in rs]
        mean = statistics.fmean(accs)
        if len(accs) > 1:
            half = float(t.ppf(0.975, len(accs) - 1)) * statistics.stdev(accs) / len(accs) ** 0.5
            low, high, how = mean - half, mean + half, "seeds (t, 95 %)"
        else:
            n = int(rs[0]["n_eval"])
            low, high = wilson_interval(round(accs[0] * n), n)
            how = "images (Wilson, 95 %)"
        out[arch] = {
            "standalone_accuracy": round(mean, 6),
            "standalone_low": round(low, 6),
            "standalone_high": round(high, 6),
            "standalone_seeds": len(accs),
            "standalone_interval": how,
        }
    return out


def importances(path: Path, name: str, cost: str) -> dict[str, dict[str, float]]:
    """{objective: {stageI: importance}}: PED-ANOVA (Watanabe et al., IJCAI 2023) over the study's complete trials,
    how much each stage's choice decides whether an arch reaches the top 10 % on accuracy (higher) and on ``cost``
    (lower); empty when the study has too few complete trials for it."""
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    study = optuna.load_study(study_name=name, storage=f"sqlite:///{path}")
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(done) < 20 or len({tuple(sorted(t.params.items())) for t in done}) < 20:
        return {}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        for objective, sign, k in (("accuracy", -1.0, 0), (cost, 1.0, 1)):
            got = get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(), target=lambda t, s=sign, k=k: s * t.values[k]
            )
            out[objective] = {p: round(float(v), 3) for p, v in got.items()}
    return out


def importance_lines(imp: dict[str, dict[str, float]]) -> list[str]:
    """The report's lines of :func:`importances`."""
    if not imp:
        return []
    lines = [
        "Parameter importance (PED-ANOVA: which stage's choice decides reaching the top 10 %; read beside placement):"
    ]
    lines += [f"  {obj}: " + ", ".join(f"{p} {v:.2f}" for p, v in per.items()) for obj, per in imp.items()]
    return lines
