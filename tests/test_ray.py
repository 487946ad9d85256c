from __future__ import annotations

import time

import pytest

from seknet.engine.ray_score import task_resources, visible_devices_task
from seknet.engine.ray_session import ray_session


def test_task_resources():
    """CPU workers split the CPUs between them; a GPU worker takes its GPU share and one CPU."""
    assert task_resources(2, 2, 0.0) == (1, {"num_cpus": 1, "num_gpus": 0})
    assert task_resources(16, 4, 0.0) == (4, {"num_cpus": 4, "num_gpus": 0})
    assert task_resources(16, 8, 0.25) == (1, {"num_cpus": 1, "num_gpus": 0.25})


def _barrier(ray, n: int):
    """(barrier actor, wait): ``wait(barrier)`` returns True once ``n`` tasks have arrived, which only happens
    if all ``n`` run at the same time. Defined locally so Ray ships them by value to its workers."""

    class Barrier:
        def __init__(self) -> None:
            self.arrived = 0

        def arrive(self) -> None:
            self.arrived += 1

        def count(self) -> int:
            return self.arrived

    def wait(barrier, timeout: float = 90.0) -> bool:

        import ray

        ray.get(barrier.arrive.remote())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ray.get(barrier.count.remote()) >= n:
                return True
            time.sleep(0.1)
        return False

    return ray.remote(Barrier).options(num_cpus=0).remote(), wait


@pytest.mark.slow
def test_gpu_packing_on_logical_gpus():
    """With 2 logical GPUs and 0.25 GPU per worker, 8 scoring workers run at once, each seeing only its own GPU."""
    _, opts = task_resources(8, 8, 0.25)
    with ray_session(num_cpus=8, num_gpus=2) as ray:
        barrier, wait = _barrier(ray, 8)

        def probe():
            ids, visible = visible_devices_task()
            return ids, visible, wait(barrier)

        task = ray.remote(probe).options(**opts)
        results = ray.get([task.remote() for _ in range(8)])
    for ids, visible, _ in results:
        assert len(ids) == 1 and visible == ids[0]  # exactly one device, and it is the only one visible
    per_gpu = {}
    for ids, *_ in results:
        per_gpu[ids[0]] = per_gpu.get(ids[0], 0) + 1
    assert sorted(per_gpu.values()) == [4, 4]  # 4 workers packed per GPU
    assert all(together for *_, together in results)  # all 8 were running at the same time


@pytest.mark.slow
def test_tune_packs_four_trials_per_logical_gpu(tmp_path):
    """Through Ray Tune with 0.25 GPU per trial on 2 logical GPUs, 8 trials run at once, each on one device."""
    from ray import tune

    from seknet.engine.ray_trials import trial_resources

    def probe(config, barrier, wait):
        ids, visible = visible_devices_task()
        together = wait(barrier)
        tune.report({"gpu": ids[0] if len(ids) == 1 and visible == ids[0] else "bad", "together": together})

    resources = trial_resources(gpus_per_trial=0.25)
    with ray_session(num_cpus=8, num_gpus=2) as ray:
        barrier, wait = _barrier(ray, 8)
        trainable = tune.with_resources(tune.with_parameters(probe, barrier=barrier, wait=wait), resources)
        tuner = tune.Tuner(
            trainable,
            param_space={"i": tune.grid_search(list(range(8)))},
            run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
        )
        results = [r.metrics for r in tuner.fit()]
    gpus = [m["gpu"] for m in results]
    assert "bad" not in gpus and sorted(gpus.count(g) for g in set(gpus)) == [4, 4]
    assert all(m["together"] for m in results)  # all 8 were running at the same time


@pytest.mark.slow
def test_scored_subtrees_are_kept_and_read_back(digits, tmp_path):
    """score_on_ray with a cache saves each finished subtree; a second call reads them back instead of scoring
    (its supernet here is a different one, so rescoring would change the hits), and a damaged file is rescored."""
    import torch

    from seknet.engine.ray_score import score_on_ray
    from seknet.engine.ray_session import ray_session
    from seknet.nn.supernet import Supernet

    torch.manual_seed(0)
    archs = [digits.parse(f"{c}-{d}-none-none") for c in digits.choices for d in ("none", "sk2")]  # 8 subtrees
    recal, vx, vy = (
        [torch.randn(8, 1, 16, 16)],
        torch.randn(64, 1, 16, 16),
        torch.randint(0, 10, (64,)),
    )
    state, other = Supernet(digits).state_dict(), Supernet(digits).state_dict()
    with ray_session(num_cpus=2) as ray:
        first = score_on_ray(ray, digits, state, archs, recal, vx, vy, 2, progress=False, cache=tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c}.pt" for c in digits.choices)
        again = score_on_ray(ray, digits, other, archs, recal, vx, vy, 2, progress=False, cache=tmp_path)
        assert all(torch.equal(first[a], again[a]) for a in first)
        (tmp_path / "none.pt").write_bytes(b"damaged")
        fresh = score_on_ray(ray, digits, other, archs, recal, vx, vy, 2, progress=False)
        mixed = score_on_ray(ray, digits, other, archs, recal, vx, vy, 2, progress=False, cache=tmp_path)
    rescored = [a for a in first if a.startswith("none-")]
    assert all(torch.equal(mixed[a], fresh[a]) for a in rescored)
    assert any(not torch.equal(fresh[a], first[a]) for a in first), "the two supernets must score apart"
