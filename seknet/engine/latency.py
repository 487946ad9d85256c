"""Measured latency of a space's parts, and an arch's latency predicted as the sum of its parts.

MACs mis-rank exactly the ops searched here: SK's M paths multiply memory traffic at few MACs, SE's pooling
and scaling cost time but almost no MACs. :func:`measure_table` times, in context, what each stage costs
under each choice: the whole model with that choice in that stage, minus the all-``none`` model, on top of
the stage's share of the all-``none`` model (its parts timed alone, fed their real input shapes, scaled to
the whole); every timing is the median of ``runs`` timed runs after warm-up (``torch.utils.benchmark``).
An arch's predicted latency is stem + its stages' entries + head (:func:`seknet.core.latency_table.predict`), which
assumes the stages' extra costs add up; :func:`validate` compares that with end-to-end measurements of whole models,
beside the same models measured again. A table records the device, torch version, threads, CPUs, batch and dtype it
was measured under (``seknet.core.latency_table.check_table`` refuses one that does not fit).
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from seknet.core.latency_table import predict
from seknet.core.space import Arch, BlockPlan, Space
from seknet.core.stats import p90
from seknet.nn.backbone import build_model

RUNS = 30  # timed runs per part; the median is kept


def device_name(device: str) -> str:
    """What the table says it was measured on: the GPU's name, or the CPU's."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    return platform.processor() or platform.machine()


def _timers(*fns) -> tuple[list, int]:
    """A ``torch.utils.benchmark`` Timer per function after 3 warm-up calls of each (interleaved), and the number of
    calls per timed run that makes one run of the first function last ~5 ms."""
    from torch.utils.benchmark import Timer

    for _ in range(3):
        for fn in fns:
            fn()
    timers = [Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()) for fn in fns]
    return timers, max(1, int(0.005 / max(timers[0].timeit(1).median, 1e-6)))


def _median_ms(fn, runs: int) -> float:
    """Median wall time of ``fn()`` in ms over ``runs`` timed runs (each of a few calls) after warm-up."""
    (timer,), number = _timers(fn)
    return 1e3 * statistics.median(timer.timeit(number).median for _ in range(runs))


def _runner(module: nn.Module, x: torch.Tensor, device: str):
    """``fn()`` that runs ``module`` on ``x`` once in eval mode on ``device`` (synchronized on CUDA)."""
    module = module.eval().to(device)
    x = x.to(device)

    @torch.no_grad()
    def fn() -> None:
        module(x)
        if device == "cuda":
            torch.cuda.synchronize()

    return fn


def _timed(module: nn.Module, x: torch.Tensor, runs: int, device: str) -> float:
    return _median_ms(_runner(module, x, device), runs)


def _arch_runner(arch: Arch, x: torch.Tensor, device: str):
    """:func:`_runner` of ``build_model(arch)``, its weights drawn under seed 0."""
    torch.manual_seed(0)
    return _runner(build_model(arch), x, device)


def _paired_ms(fa, fb, runs: int) -> tuple[float, float]:
    """(median time of ``fa``, median of time(fb) - time(fa)) in ms over ``runs`` interleaved pairs of timed runs:
    a drift of the machine's speed during the measurement cancels in the difference."""
    (ta, tb), number = _timers(fa, fb)
    a, d = [], []
    for _ in range(runs):
        x, y = ta.timeit(number).median, tb.timeit(number).median
        a.append(x)
        d.append(y - x)
    return 1e3 * statistics.median(a), 1e3 * statistics.median(d)


def stage_inputs(plans: Sequence[BlockPlan], batch: int) -> list[tuple[int, int, int, int]]:
    """The input shape (B, C, H, W) each stage is fed in a whole model, from its blocks' plans (``Space.plan``)."""
    firsts: dict[int, BlockPlan] = {}
    for b in plans:
        firsts.setdefault(b.stage, b)
    return [(batch, b.in_channels, b.side_in, b.side_in) for b in firsts.values()]


def measure_table(
    space: Space, device: str = "cpu", batch: int = 1, threads: int | None = None, runs: int = RUNS
) -> dict:
    """Latency (ms) of the stem, the head and every stage under every choice of ``space``; see the module doc.

    In context: each choice's entry is the whole model's latency with that choice in that stage (the others at
    ``none``) minus the all-``none`` model's (timed in interleaved pairs, so that drift cancels), added to the
    stage's share of the all-``none`` latency (the median over all pairs); the shares are the parts timed alone
    (stem, each ``none`` stage fed its real input shape, head), scaled to sum to the whole. So the table predicts
    the all-``none`` model and every single-stage variation as measured end to end, with what a part costs
    inside the model (caches, thread pool, allocator) and not only alone.
    """
    with pinned(threads) as pins:
        return _measure(space, device, batch, runs) | pins


def on_cpu(space: Space, batch: int = 1, threads: int | None = None, runs: int = RUNS) -> dict:
    """:func:`measure_table` on the CPU (``seknet.core.plugins.DEVICES``' ``cpu``)."""
    return measure_table(space, "cpu", batch, threads, runs)


def on_cuda(space: Space, batch: int = 1, threads: int | None = None, runs: int = RUNS) -> dict:
    """:func:`measure_table` on the current CUDA device (``DEVICES``' ``cuda``); ValueError where there is none."""
    if not torch.cuda.is_available():
        raise ValueError(
            "latency device cuda: no CUDA device here; measure the table on a machine with one "
            "(search.py latency --device cuda) and pass it with --latency-table F, or use cpu"
        )
    return measure_table(space, "cuda", batch, threads, runs)


def _measure(space: Space, device: str, batch: int, runs: int) -> dict:
    """:func:`measure_table`'s timings, in the current threads."""
    n = len(space.stages)
    none = space.parse("-".join(["none"] * n))
    varied = {  # (stage, choice) -> that choice in that stage, none elsewhere
        (i, c): space.parse("-".join(c if j == i else "none" for j in range(n)))
        for i in range(n)
        for c in space.choices
        if c != "none"
    }
    plans = space.plan()
    torch.manual_seed(0)
    alone = _parts_alone(none, plans, device, batch, runs)
    x = torch.randn(batch, space.in_channels, space.input_size, space.input_size)
    run_base = _arch_runner(none, x, device)
    bases, deltas = [], {}
    for key, arch in varied.items():
        b, deltas[key] = _paired_ms(run_base, _arch_runner(arch, x, device), runs)
        bases.append(b)
    base = statistics.median(bases)
    scale = base / (alone["stem"] + alone["head"] + sum(alone["stages"]))
    stages = []
    for i in range(n):
        share = alone["stages"][i] * scale
        stages.append({c: round(max(share + deltas.get((i, c), 0.0), 0.0), 5) for c in space.choices})  # noise
    return {
        "space": space.name,
        "device": device,
        "device_name": device_name(device),
        "torch": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "batch": batch,
        "dtype": "float32",
        "runs": runs,
        "method": "in-context",
        "base_ms": round(base, 5),
        "stem_ms": round(alone["stem"] * scale, 5),
        "head_ms": round(alone["head"] * scale, 5),
        "stages": stages,
    }


def _parts_alone(none: Arch, plans: Sequence[BlockPlan], device: str, batch: int, runs: int) -> dict:
    """The stem, every stage and the head of the all-``none`` model, each timed alone on its real input shape (ms)."""
    base, s, last = build_model(none), none.space, plans[-1]
    x = torch.randn(batch, s.in_channels, s.input_size, s.input_size)
    stem_ms = _timed(base.stem, x, runs, device)
    inputs = stage_inputs(plans, batch)
    stages = [_timed(stage, torch.randn(shape), runs, device) for stage, shape in zip(base.stages, inputs, strict=True)]
    pooled_head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), base.fc)
    head_ms = _timed(pooled_head, torch.randn(batch, last.attn.out_channels, last.side, last.side), runs, device)
    return {"stem": stem_ms, "stages": stages, "head": head_ms}


def measure_arch(arch: Arch, device: str = "cpu", batch: int = 1, runs: int = RUNS) -> float:
    """End-to-end latency of ``build_model(arch)`` in ms (median of ``runs``)."""
    s = arch.space
    return _median_ms(
        _arch_runner(arch, torch.randn(batch, s.in_channels, s.input_size, s.input_size), device),
        runs,
    )


def validate(table: dict, archs: list[Arch], device: str = "cpu", runs: int = RUNS) -> dict:
    """Predicted vs measured end-to-end latency over ``archs``, beside the measurement's own noise.

    Every arch is timed end to end twice, in two passes over all ``archs`` (so the machine's drift between them
    shows as it does between a table and a later timing). The prediction's relative error is taken against the
    first pass; the re-measurement error is the second pass against the first: the noise floor no prediction
    can be judged below. Kendall tau ranks the prediction against the first pass. Returns median and p90 of
    both errors, tau, and the rows.
    """
    from scipy.stats import kendalltau

    s = archs[0].space
    x = torch.randn(table["batch"], s.in_channels, s.input_size, s.input_size)
    runners = [_arch_runner(a, x, device) for a in archs]
    with pinned(table.get("threads")) as pins:
        first = [_median_ms(fn, runs) for fn in runners]
        again = [_median_ms(fn, runs) for fn in runners]
    rows = []
    for a, m1, m2 in zip(archs, first, again, strict=True):
        predicted = predict(table, a)
        rows.append(
            {
                "arch": str(a),
                "measured_ms": round(m1, 4),
                "remeasured_ms": round(m2, 4),
                "predicted_ms": round(predicted, 4),
                "rel_error": round(abs(predicted - m1) / m1, 4),
                "remeasure_rel_error": round(abs(m2 - m1) / m1, 4),
            }
        )
    errors, noise = [r["rel_error"] for r in rows], [r["remeasure_rel_error"] for r in rows]
    tau = kendalltau([r["predicted_ms"] for r in rows], first).statistic if len(rows) > 1 else float("nan")
    return {
        "archs": len(rows),
        "median_rel_error": statistics.median(errors),
        "p90_rel_error": p90(errors),
        "remeasure_median_rel_error": statistics.median(noise),
        "remeasure_p90_rel_error": p90(noise),
        "kendall_tau": round(float(tau), 4),
        "threads": pins["threads"],
        "cpus": pins["cpus"],
        "rows": rows,
    }


@contextlib.contextmanager
def pinned(threads: int | None = None) -> Iterator[dict]:
    """Pin this process while timing: ``threads`` torch threads (default: torch's) on as many of the CPUs the OS lets
    it use (``os.sched_setaffinity``, where the OS has it); both are restored afterwards. Yields {threads, cpus}."""
    before_threads = torch.get_num_threads()
    before_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if threads is not None:
        torch.set_num_threads(threads)
    if before_cpus is not None:
        allowed = sorted(before_cpus)
        os.sched_setaffinity(0, allowed[: max(1, min(torch.get_num_threads(), len(allowed)))])
    try:
        yield {"threads": torch.get_num_threads(), "cpus": pinned_cpus()}
    finally:
        torch.set_num_threads(before_threads)
        if before_cpus is not None:
            os.sched_setaffinity(0, before_cpus)


def pinned_cpus() -> list[int] | None:
    """The CPUs this process may run on (None where the OS does not say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
