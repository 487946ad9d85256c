from __future__ import annotations

import time

import pytest

from seknet.ray_score import task_resources, visible_devices_task
from seknet.ray_session import ray_session


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

    from seknet.tune_search import MultiTrialConfig, trial_resources

    def probe(config, barrier, wait):
        ids, visible = visible_devices_task()
        together = wait(barrier)
        tune.report({"gpu": ids[0] if len(ids) == 1 and visible == ids[0] else "bad", "together": together})

    resources = trial_resources(MultiTrialConfig(gpus_per_trial=0.25))
    with ray_session(num_cpus=8, num_gpus=2) as ray:
        barrier, wait = _barrier(ray, 8)
        trainable = tune.with_resources(tune.with_parameters(probe, barrier=barrier, wait=wait), resources)
        tuner = tune.Tuner(trainable, param_space={"i": tune.grid_search(list(range(8)))},
                           run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))  # fmt: skip
        results = [r.metrics for r in tuner.fit()]
    gpus = [m["gpu"] for m in results]
    assert "bad" not in gpus and sorted(gpus.count(g) for g in set(gpus)) == [4, 4]
    assert all(m["together"] for m in results)  # all 8 were running at the same time
