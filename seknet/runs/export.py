"""Export from a finished run: the most accurate arch under a MAC or latency budget, optionally with its weights."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from seknet.core.config import OneShotConfig
from seknet.core.fileio import write_atomic, write_yaml
from seknet.core.plugins import FORMATS
from seknet.data.load import recal_batches, run_data
from seknet.engine.deploy import export_model
from seknet.nn.supernet import Supernet, recalibrate_bn
from seknet.runs.files import load_into, load_run, load_state_dict
from seknet.runs.rows import comparable_rows


def pick(rows: list[dict], max_macs: int | None = None, max_latency: float | None = None) -> dict | None:
    """The most accurate row within ``max_macs`` and ``max_latency`` (ms, the rows' ``latency_ms``) among the
    comparable ones (ties: fewer MACs)."""
    ok = [
        r
        for r in comparable_rows(rows)
        if (max_macs is None or int(r["macs"]) <= max_macs)
        and (max_latency is None or float(r["latency_ms"]) <= max_latency)
    ]
    return max(ok, key=lambda r: (float(r["accuracy"]), -int(r["macs"]))) if ok else None


def budget_text(max_macs: int | None, max_latency: float | None) -> str:
    """'7,500,000 MACs', '2.5 ms' or both, as messages name a budget."""
    return " and ".join(t for t in (max_macs and f"{max_macs:,} MACs", max_latency and f"{max_latency:g} ms") if t)


def pick_within(run: Path, rows: list[dict], max_macs: int | None, max_latency: float | None) -> dict:
    """The row of ``run`` to export (:func:`pick`); one line when no budget is given, the run has no latency, or
    nothing fits."""
    if max_macs is None and max_latency is None:
        raise ValueError("export needs a budget: --max-macs N, --max-latency MS, or both")
    if max_latency is not None and rows and "latency_ms" not in rows[0]:
        raise ValueError(
            f"{run} has no latency_ms column (it ran without a latency table); export it by --max-macs, "
            "or run the search with --objective latency or --latency-table F"
        )
    best = pick(rows, max_macs, max_latency)
    if best is None:
        key = "macs" if max_latency is None else "latency_ms"
        cheapest = min(comparable_rows(rows) or rows, key=lambda r: float(r[key] or 0))
        have = (
            f"smallest scored is {cheapest['arch']} with {int(cheapest['macs']):,} MACs"
            if max_latency is None
            else f"fastest scored is {cheapest['arch']} at {float(cheapest[key]):g} ms"
        )
        raise ValueError(f"no arch of {run} fits in {budget_text(max_macs, max_latency)}; the {have}")
    return best


def output_paths(out: str | Path, fmt: str | None, weights: bool) -> tuple[Path, str | None, bool]:
    """(arch YAML, format, weights) that ``--out`` asks for: a path ending in ``.onnx``, ``.pt2`` or ``.torchscript``
    names the deployable model (its format; the YAML and the ``.pt`` weights go beside it), one ending in ``.pt``
    names the weights, any other names the YAML. A suffix of another format than ``--format`` is one line."""
    path = Path(out)
    named = {p.info["suffix"]: name for name, p in FORMATS.items()}.get(path.suffix)
    if named is not None and fmt not in (None, named):
        raise ValueError(
            f"--out {path} names a {named} file but --format is {fmt}; drop --format or end --out in "
            f"{FORMATS[fmt].info['suffix']}"
        )
    if named is not None or path.suffix == ".pt":
        return path.with_suffix(".yaml"), fmt or named, True
    return path, fmt, weights


def export(
    run: Path,
    max_macs: int | None = None,
    out: str | None = None,
    weights: bool = False,
    fmt: str | None = None,
    max_latency: float | None = None,
) -> Path:
    """Write the arch YAML (``seknet.load_arch`` reads it) and, with ``weights``, the sub-net's state dict.

    The arch is the most accurate of the run within ``max_macs`` and ``max_latency`` (ms of predicted latency;
    the run must have a ``latency_ms`` column); at least one budget is needed.

    ``fmt`` (``onnx``, ``pt2`` or ``torchscript``, implies ``weights``) also writes the deployable model beside the
    YAML, checked against PyTorch's outputs on a batch of validation images (``seknet.deploy``); the YAML records
    it. ``out`` may name the model file instead (``model.onnx``: see :func:`output_paths`).
    """
    if fmt is not None:
        FORMATS[fmt]  # noqa: B018 - an unknown format: one ValueError naming the registered ones
    if out is not None:
        out, fmt, weights = output_paths(out, fmt, weights)
    weights = weights or fmt is not None
    done = load_run(run)
    best = pick_within(run, done.rows, max_macs, max_latency)
    if weights and not (run / "supernet.pt").is_file():
        raise ValueError(f"{run}: --weights and --format need supernet.pt, which only one-shot runs write; drop them")
    space = done.space
    arch = space.parse(best["arch"])
    name = "-".join(t for t in (max_macs and str(max_macs), max_latency and f"{max_latency:g}ms") if t)
    path = Path(out) if out else run / f"export-{name}.yaml"
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: the folder {path.parent} does not exist; create it or choose another")
    if weights:  # read everything before writing anything
        cfg = done.settings(OneShotConfig)
        net = Supernet(space, choice_affine=cfg.choice_affine)
        load_into(net, load_state_dict(run / "supernet.pt"), run / "supernet.pt")
    keys = ("params", "macs", *(("latency_ms",) if "latency_ms" in best else ()), "accuracy", "acc_low", "acc_high")
    metrics = {k: best[k] for k in (*keys, "n_eval")}
    extra = {}
    if weights:
        data = run_data(cfg, space.input_size)
        model = recalibrate_bn(net.extract(arch), recal_batches(data, cfg.recal_images, cfg.recal_batch, cfg.seed))
        if fmt is not None:  # checked before anything is written
            x = data.val.x[:8]
            extra["deploy"] = export_model(model, path.with_suffix(FORMATS[fmt].info["suffix"]), fmt, x[:2], x)
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        write_atomic(path.with_suffix(".pt"), buf.getvalue())
    budget = {"max_macs": max_macs} | ({"max_latency": max_latency} if max_latency is not None else {})
    write_yaml(path, arch.to_dict() | {"metrics": metrics | {"run": str(run)} | budget} | extra)
    return path
