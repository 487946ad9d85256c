"""seknet command line: a thin layer over the ``seknet`` library, installed as ``seknet`` and run by ``search.py``.

    python search.py [run] [--space S --data D --out DIR --max-macs N --epochs E --seed K ...]
    python search.py run --objective latency [--latency-table F] [--max-latency MS]   accuracy vs latency
    python search.py run --backend nni --strategy evolution|random|grid|tpe|spos|darts|gumbel-darts|proxyless
    python search.py export RUN --max-macs N | --max-latency MS [--out FILE] [--weights] [--format onnx|pt2|torchscript]
    python search.py retrain RUN [--top K] [--random R] [--epochs E] [--seeds S]
    python search.py latency --space S [--device cpu|cuda] [--batch B] [--threads T] [--validate N]
    python search.py check RUN [RUN ...] [--truth benchmarks/truth/truth.csv]   a run's answer vs the truth
    python search.py dashboard RUN [RUN ...] [--port P]   the runs in optuna-dashboard (pip install -e ".[dashboard]")
    python search.py flops --space S --arch A [--json]    params and MACs of one arch
    python search.py flops --space S --all [--json]       the whole space, sorted by MACs

Bad input prints one line naming the problem and the fix, and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from seknet.core.count import count
from seknet.core.plugins import DEVICES, FORMATS, MODES
from seknet.core.space import load_space

DEFAULT_SPACE = "search_space/digits.yaml"


class UsageError(Exception):
    """Bad command-line input: reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors follow the one-line rule too
        raise UsageError(f"{self.prog}: {message}; see --help")


def _flops(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    if args.all == (args.arch is not None):
        raise UsageError("flops: give exactly one of --arch A or --all")
    archs = space.archs() if args.all else [space.parse(args.arch)]
    rows = sorted(((a, count(a)) for a in archs), key=lambda r: (r[1].macs, r[1].params, str(r[0])))
    if args.json:
        out = [
            {
                "arch": str(a),
                "space": space.name,
                "params": c.params,
                "macs": c.macs,
                "attn_ops": c.attn_ops,
            }
            for a, c in rows
        ]
        print(json.dumps(out if args.all else out[0]))
        return 0
    width = max(len(str(a)) for a, _ in rows)
    print(f"{'arch':<{width}}  {'params':>12}  {'MACs':>15}  {'attn ops':>12}   (space {space.name}, per image)")
    for a, c in rows:
        print(f"{str(a):<{width}}  {c.params:>12,}  {c.macs:>15,}  {c.attn_ops:>12,}")
    return 0


def parse_macs(text: str) -> int:
    """'12.5M' -> 12_500_000; also k, G and plain integers."""
    units = {"k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}
    t = text.strip().replace(",", "").replace("_", "")
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid MAC count {text!r}; write e.g. 12.5M, 1.2G or 800000") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"MAC budget must be positive, got {text!r}")
    return int(value)


def parse_ms(text: str) -> float:
    """'2.5ms' or '2.5' -> 2.5 (milliseconds of predicted latency)."""
    t = text.strip().removesuffix("ms").strip()
    try:
        value = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid latency {text!r}; write milliseconds, e.g. 2.5ms or 2.5") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"latency budget must be a positive number of ms, got {text!r}")
    return value


def _count(minimum: int):
    """An argparse type: a whole number >= ``minimum`` (argparse names the flag in front of the message)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _number(text: str) -> int | float:
    """An argparse type for run's int flags: the number as written (``3`` an int, ``1.5`` a float); whether it
    fits the flag is the config's check, so the CLI and the API give the same message."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _real(text: str) -> float:
    """An argparse type for run's float flags."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


# run flags whose values need more than their field's type; every range check lives in the configs
FLAG_TYPES = {"max_macs": parse_macs, "max_latency": parse_ms}
CLI_ONLY = ("command", "func", "backend", "mode", "resume")  # flags that pick what to run, not how


def _run(args: argparse.Namespace) -> int:
    from seknet.api.python import resume, search

    mode = "nni" if args.backend == "nni" and args.mode is None else args.mode or "oneshot"
    nni_with_ray_flags = mode == "nni" and (args.resume or args.sampler or args.backend == "ray")
    if nni_with_ray_flags or (args.backend == "nni" and mode != "nni"):
        raise UsageError("--backend nni takes --strategy (not --mode, --sampler or --resume); see run --help")
    if mode != "nni" and args.strategy is not None:
        raise UsageError("--strategy picks an NNI strategy; add --backend nni (Ray runs use --mode and --sampler)")
    if args.resume:
        resume(args.resume, args.budget_units)
        return 0
    search(mode, **{k: v for k, v in vars(args).items() if k not in CLI_ONLY and v is not None})
    return 0


def _export(args: argparse.Namespace) -> int:
    from seknet.runs.export import export

    out = export(Path(args.run), args.max_macs, args.out, args.weights, args.format, args.max_latency)
    from seknet.core.fileio import read_yaml

    deployed = read_yaml(out, "missing").get("deploy")
    print(f"wrote {out}" + (f" and {out.parent / deployed['file']}" if deployed else ""))
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from seknet.api.python import retrain

    retrain(
        Path(args.run),
        args.top,
        args.random,
        args.epochs,
        args.seeds,
        args.gpus_per_trial,
        args.progress,
        args.test_variants,
        args.address,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    from seknet.core.truth import TRUTH_TYPES, check_run, factorial_rows, format_checks
    from seknet.runs.files import read_evaluations, read_table

    table = read_table(Path(args.truth), TRUTH_TYPES)
    rows = factorial_rows(table, args.epochs or max(int(r["epochs"]) for r in table))
    checks = {}
    for run in map(Path, args.runs):
        place = read_table(run / "placement.csv", {"stage": (int, False), "choice": (str, False)})
        decided = (
            read_table(run / "decisions.csv", {"budget": (float, False)}) if (run / "decisions.csv").is_file() else []
        )
        checks[str(run)] = check_run(rows, read_evaluations(run / "evaluations.csv"), place, decided)
    print(format_checks(checks))
    return 0


def _latency(args: argparse.Namespace) -> int:
    import random

    from seknet.core.fileio import write_yaml
    from seknet.engine import latency

    space = load_space(args.space)
    table = DEVICES.load(args.device)(space, args.batch, args.threads, args.runs)  # seknet.engine.latency.on_cpu, ...
    print(
        f"latency table of {space.name} on {table['device_name']} ({table['threads']} threads, batch {args.batch}): "
        f"stem {table['stem_ms']:.3f} ms, head {table['head_ms']:.3f} ms"
    )
    for i, st in enumerate(table["stages"]):
        print(f"  stage {i}: " + ", ".join(f"{c} {ms:.3f}" for c, ms in st.items()))
    if args.validate:
        archs = random.Random(0).sample(space.archs(), min(args.validate, len(space.archs())))
        check = latency.validate(table, archs, args.device, args.runs)
        table["validation"] = check
        print(
            f"prediction p90 {check['p90_rel_error']:.1%} (median {check['median_rel_error']:.1%}; predicted vs "
            f"measured end to end, {check['archs']} random archs)"
        )
        print(
            f"re-measurement p90 {check['remeasure_p90_rel_error']:.1%} (median "
            f"{check['remeasure_median_rel_error']:.1%}; the same archs timed again: the noise floor)"
        )
        print(f"Kendall tau {check['kendall_tau']:.3f} (predicted vs measured order)")
    out = Path(args.out or f"latency-{space.name}-{args.device}-b{args.batch}.yaml")
    write_yaml(out, table)
    print(f"wrote {out}")
    return 0


def _add_run(sub) -> None:
    """The ``run`` subcommand's flags: the fields of the mode configs (seknet.core.config), with their help."""
    from seknet.core.config import run_flags

    r = sub.add_parser(
        "run",
        help="search: one-shot (default), --mode multitrial or --backend nni (default command)",
    )
    r.add_argument(
        "--mode",
        choices=tuple(MODES),
        help="search kind (default oneshot; nni is --backend nni)",
    )
    r.add_argument(
        "--backend",
        choices=("ray", "nni"),
        help="search engine (default: ray); nni takes --strategy",
    )
    r.add_argument(
        "--resume",
        help="continue an interrupted one-shot or multitrial search: its run folder; with --budget-units U2, add looks "
        "to a finished --verify --budget-units run, up to U2 units in all",
    )
    for f in run_flags():
        if f.type == "bool":
            kind = {"action": argparse.BooleanOptionalAction}
        else:
            kind = {"type": FLAG_TYPES.get(f.name) or {"int": _number, "float": _real, "str": str}[f.type]}
        r.add_argument(
            "--" + f.name.replace("_", "-"),
            choices=f.choices,
            help=f.help.replace("%", "%%"),
            **kind,
        )
    r.set_defaults(func=_run)


def _add_export(sub) -> None:
    """The ``export`` subcommand's flags."""
    e = sub.add_parser("export", help="the most accurate arch of a run under a MAC or latency budget")
    e.add_argument("run", help="a run folder (results/...)")
    e.add_argument("--max-macs", type=parse_macs, help="MAC budget, e.g. 7.5M")
    e.add_argument(
        "--max-latency",
        type=parse_ms,
        help="latency budget, e.g. 2.5ms (runs with a latency_ms column)",
    )
    e.add_argument(
        "--out",
        help="arch YAML to write (default: RUN/export-<budget>.yaml); a name ending in "
        + ", ".join(p.info["suffix"] for p in FORMATS.values())
        + " names the deployable model instead, with the YAML and .pt weights beside it",
    )
    e.add_argument("--weights", action="store_true", help="also write the extracted sub-net's state dict (.pt)")
    e.add_argument(
        "--format",
        choices=tuple(FORMATS),
        help="also write the deployable model (.onnx / .pt2 torch.export / .torchscript, deprecated by "
        "torch), checked against PyTorch on a batch; onnx needs pip install -e '.[onnx]'",
    )
    e.set_defaults(func=_export)


def _add_retrain(sub) -> None:
    """The ``retrain`` subcommand's flags."""
    t = sub.add_parser("retrain", help="retrain a run's front stand-alone; rank agreement with its scores")
    t.add_argument("run", help="a run folder (results/...)")
    t.add_argument("--top", type=_count(1), default=5, help="most accurate front archs (default: %(default)s)")
    t.add_argument(
        "--random",
        type=_count(0),
        default=15,
        help="random other archs, unbiased (default: %(default)s)",
    )
    t.add_argument("--epochs", type=_count(1), default=10, help="stand-alone epochs (default: %(default)s)")
    t.add_argument("--seeds", type=_count(1), default=3, help="seeds per arch (default: %(default)s)")
    t.add_argument(
        "--test-variants",
        type=_count(1),
        default=24,
        help="digits: draws per test source digit; stand-alone accuracy is on the test split "
        "(default: %(default)s, 8,640 images)",
    )
    t.add_argument("--gpus-per-trial", type=float, default=0.0)
    t.add_argument(
        "--address",
        help="train on this Ray cluster (HOST:PORT of `ray start --head`) instead of a local Ray",
    )
    t.add_argument("--no-progress", dest="progress", action="store_false")
    t.set_defaults(func=_retrain)


def _add_check(sub) -> None:
    """The ``check`` subcommand's flags."""
    c = sub.add_parser("check", help="runs against a placement truth table: effect signs, Kendall tau, regret")
    c.add_argument("runs", nargs="+", help="one-shot run folders (results/...)")
    c.add_argument(
        "--truth",
        default="benchmarks/truth/truth.csv",
        help="truth table CSV (default: %(default)s)",
    )
    c.add_argument("--epochs", type=_count(1), help="the table's recipe (default: the most epochs in it)")
    c.set_defaults(func=_check)


def _add_dashboard(sub) -> None:
    """The ``dashboard`` subcommand's flags."""
    d = sub.add_parser("dashboard", help="serve runs in optuna-dashboard (each run a study) on 127.0.0.1")
    d.add_argument("runs", nargs="+", help="finished run folders (results/...)")
    d.add_argument("--port", type=_count(1), default=8080, help="port to listen on (default: %(default)s)")
    d.set_defaults(func=_dashboard)


def _dashboard(args: argparse.Namespace) -> int:
    from seknet.core.plugins import COMMANDS

    COMMANDS.load("dashboard")([Path(r) for r in args.runs], args.port)  # seknet.runs.dashboard.serve
    return 0


def _add_latency(sub) -> None:
    """The ``latency`` subcommand's flags."""
    lt = sub.add_parser("latency", help="measure a latency table of the space's parts; validate it on random archs")
    lt.add_argument("--space", default=DEFAULT_SPACE, help="space YAML (default: %(default)s)")
    lt.add_argument("--device", choices=DEVICES, default="cpu")
    lt.add_argument("--batch", type=_count(1), default=1)
    lt.add_argument("--threads", type=_count(1), help="torch threads (default: torch's)")
    lt.add_argument("--runs", type=_count(1), default=30, help="timed runs per part; the median is kept")
    lt.add_argument("--validate", type=_count(0), default=30, help="random archs measured end to end (0: none)")
    lt.add_argument("--out", help="table YAML (default: latency-<space>-<device>-b<batch>.yaml)")
    lt.set_defaults(func=_latency)


def _add_flops(sub) -> None:
    """The ``flops`` subcommand's flags."""
    f = sub.add_parser("flops", help="exact params and MACs of an arch, or of the whole space")
    f.add_argument("--space", default=DEFAULT_SPACE, help="space YAML (default: %(default)s)")
    f.add_argument("--arch", help="one choice per stage joined by '-', e.g. se16-none-sk3-se4")
    f.add_argument("--all", action="store_true", help="every arch of the space, sorted by MACs")
    f.add_argument("--json", action="store_true", help="print JSON instead of a table")
    f.set_defaults(func=_flops)


def build_parser() -> argparse.ArgumentParser:
    prog = "seknet" if Path(sys.argv[0]).name == "seknet" else "search.py"
    p = Parser(prog=prog, description="Find where attention (SE, SK) belongs in a CNN.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    _add_run(sub)
    _add_export(sub)
    _add_retrain(sub)
    _add_check(sub)
    _add_dashboard(sub)
    _add_latency(sub)
    _add_flops(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]  # the default job: `run` with the flags given
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("search.py: give a command (run, export, dashboard, flops, ...); see --help")
        return args.func(args)
    except (UsageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # training diverged; the run folder stays .partial
        print(f"error: training diverged: {e}; lower --lr (or check the data)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: nothing was renamed into place; an interrupted run stays in its hidden .<run>.partial "
            "folder (one-shot and multitrial: continue it with --resume <run>)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # e.g. `python search.py | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps Python's exit flush quiet
        return 0


if __name__ == "__main__":
    sys.exit(main())
