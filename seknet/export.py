"""Export from a finished run: the most accurate arch under a MAC budget, optionally with its weights."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from seknet import report
from seknet.deploy import FORMATS, SUFFIX, export_model
from seknet.oneshot import SearchConfig, recal_batches, run_data
from seknet.runfiles import config_from, finished_run, load_into, load_state_dict, read_evaluations, read_run_config
from seknet.space import space_from_dict
from seknet.supernet import Supernet, recalibrate_bn


def pick(rows: list[dict], max_macs: int) -> dict | None:
    """The most accurate row within ``max_macs`` among the comparable ones (ties: fewer MACs)."""
    ok = [r for r in report.comparable_rows(rows) if int(r["macs"]) <= max_macs]
    return max(ok, key=lambda r: (float(r["accuracy"]), -int(r["macs"]))) if ok else None


def export(run: Path, max_macs: int, out: str | None = None, weights: bool = False, fmt: str | None = None) -> Path:
    """Write the arch YAML (``seknet.load_arch`` reads it) and, with ``weights``, the sub-net's state dict.

    ``fmt`` (``onnx`` or ``torchscript``, implies ``weights``) also writes the deployable model beside the YAML,
    checked against PyTorch's outputs on a batch of validation images (``seknet.deploy``); the YAML records it.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; valid: {'|'.join(FORMATS)}")
    weights = weights or fmt is not None
    evals, cfg_file = finished_run(run)
    rows = read_evaluations(evals)
    best = pick(rows, max_macs)
    if best is None:
        smallest = min(report.comparable_rows(rows) or rows, key=lambda r: int(r["macs"] or 0))
        raise ValueError(
            f"no arch of {run} fits in {max_macs:,} MACs; the smallest scored is {smallest['arch']} with "
            f"{int(smallest['macs']):,} MACs"
        )
    if weights and not (run / "supernet.pt").is_file():
        raise ValueError(f"{run}: --weights and --format need supernet.pt, which only one-shot runs write; drop them")
    config = read_run_config(cfg_file)
    space = space_from_dict(config.get("space"), str(cfg_file))
    arch = space.parse(best["arch"])
    path = Path(out) if out else run / f"export-{max_macs}.yaml"
    if not path.parent.is_dir():
        raise ValueError(f"--out {path}: the folder {path.parent} does not exist; create it or choose another")
    if weights:  # read everything before writing anything
        cfg = config_from(SearchConfig, config["config"], cfg_file)
        net = Supernet(space, choice_affine=cfg.choice_affine)
        load_into(net, load_state_dict(run / "supernet.pt"), run / "supernet.pt")
    metrics = {k: best[k] for k in ("params", "macs", "accuracy", "acc_low", "acc_high", "n_eval")}
    extra = {}
    if weights:
        data = run_data(cfg)
        model = recalibrate_bn(net.extract(arch), recal_batches(data, cfg))
        if fmt is not None:  # checked before anything is written
            x = data.val.x[:8]
            extra["deploy"] = export_model(model, path.with_suffix(SUFFIX[fmt]), fmt, x[:2], x)
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        report.write_atomic(path.with_suffix(".pt"), buf.getvalue())
    report.write_yaml(path, arch.to_dict() | {"metrics": metrics | {"run": str(run), "max_macs": max_macs}} | extra)
    return path
