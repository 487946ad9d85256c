"""Data-parallel supernet training on Ray Train (seknet.engine.ray_train): DDP over gloo workers on this CPU."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F

from seknet.data.split import Data, Split, batches
from seknet.engine.samplers import Paths
from seknet.engine.train import TrainConfig, sgd_cosine, train
from seknet.nn.supernet import Supernet

pytest.importorskip("ray.train")


@pytest.fixture(scope="module")
def tiny_data():
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randn(96, 1, 16, 16, generator=g), torch.randint(0, 10, (96,), generator=g))
    return Data("tiny", split, split, split, num_classes=10)


def sliced_mean_gradient(space, data, tcfg: TrainConfig, world: int) -> tuple[Supernet, list[float]]:
    """What DDP over ``world`` workers computes, in one process: each step, the model on each ``rank::world``
    slice of the global batch (batch norm on the slice's own statistics), the gradients averaged. On one
    thread, as every worker runs: conv results depend on the thread count in their last bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _sliced_mean_gradient(space, data, tcfg, world)
    finally:
        torch.set_num_threads(threads)


def _sliced_mean_gradient(space, data, tcfg: TrainConfig, world: int) -> tuple[Supernet, list[float]]:
    torch.manual_seed(tcfg.seed)
    net = Supernet(space)
    rng, gen = random.Random(tcfg.seed), torch.Generator().manual_seed(tcfg.seed)
    opt, sched = sgd_cosine(net, tcfg, tcfg.epochs * -(-len(data.train) // tcfg.batch_size))
    losses = []
    for _ in range(tcfg.epochs):
        net.train()
        total, n = 0.0, 0
        for x, y in batches(data.train, tcfg.batch_size, gen):
            arch = Paths(space).step(rng)[0]
            opt.zero_grad(set_to_none=True)
            for r in range(world):
                loss = F.cross_entropy(net(x[r::world], arch), y[r::world])
                (loss / world).backward()
                total, n = total + loss.item() * len(y[r::world]), n + len(y[r::world])
            opt.step()
            sched.step()
        losses.append(total / n)
    return net, losses


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # GPUs: what Ray detects
    yield
    ray.shutdown()


@pytest.mark.slow
def test_two_gloo_workers_average_the_gradients_of_their_batch_slices(digits, tiny_data, tmp_path, ray_local):
    """2 DDP workers with global batch B give the weights and losses of one process that averages the gradients
    of the two B/2 slices (bit for bit here; 1e-6 allowed for the order of the all-reduce sums), and stay close
    to one worker on the whole batch B: batch norm normalizes each slice by its own statistics (B/2 images),
    the one difference, which moves the losses by a few hundredths here (16 random images per slice, 2 epochs)
    and less on real batches."""
    from seknet.engine.ray_train import train_supernet_ddp

    tcfg = TrainConfig(epochs=2, batch_size=32, seed=1)
    net, losses, accs, restarts = train_supernet_ddp(
        tcfg, Paths(digits), tiny_data, tmp_path / "checkpoint.pt", workers=2
    )
    want_net, want = sliced_mean_gradient(digits, tiny_data, tcfg, world=2)
    assert restarts == 0 and losses == pytest.approx(want, abs=1e-6)
    assert len(accs) == len(losses) and all(0 <= a <= 1 for a in accs)  # counted over both ranks' slices
    params = dict(want_net.named_parameters())
    assert max((p - params[k]).abs().max().item() for k, p in net.named_parameters()) < 1e-6
    torch.manual_seed(tcfg.seed)
    one = Supernet(digits)
    whole = train(one, tiny_data.train, tcfg, paths=Paths(digits), progress=False)
    assert losses == pytest.approx(whole, abs=0.05)


def test_ddp_refuses_samplers_that_step_several_archs(digits, tiny_data, tmp_path):
    """fair and sandwich backpropagate several archs per step, which DDP cannot reduce once: one line."""
    from seknet.engine.ray_train import train_supernet_ddp

    with pytest.raises(ValueError, match="use --sampler uniform|balanced, not fair"):
        train_supernet_ddp(TrainConfig(), Paths(digits, "fair"), tiny_data, tmp_path / "c.pt", workers=2)


@pytest.mark.slow
def test_a_killed_training_worker_is_restarted_and_the_run_finishes(tmp_path):
    """kill -9 of one Ray Train worker mid-training: Ray Train restarts the group from the last epoch checkpoint,
    the one-shot run finishes, and config.yaml records the restart."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from seknet.engine.train import checkpoint_epochs
    from tests.conftest import ROOT

    out = tmp_path / "run"
    argv = [
        sys.executable,
        "search.py",
        "--smoke",
        "--no-progress",
        "--epochs",
        "6",
        "--max-macs",
        "6.3M",
        "--train-workers",
        "2",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        argv, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = out.with_name(f".{out.name}.partial") / "checkpoint.pt"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and checkpoint_epochs(checkpoint) < 1:
            time.sleep(0.1)
        workers = subprocess.run(
            ["pgrep", "-s", str(proc.pid), "-f", "RayTrainWorker"], capture_output=True, text=True
        ).stdout.split()
        assert workers and checkpoint_epochs(checkpoint) < 6, "a worker must be killed mid-training"
        os.kill(int(workers[-1]), signal.SIGKILL)
        assert proc.wait(timeout=600) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["training"] == {"workers": 2, "restarts": 1} and len(saved["train_loss"]) == 6
    assert (out / "evaluations.csv").is_file() and not (out / "ray_train").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_two_workers_train_on_two_shares_of_a_gpu(digits, tiny_data, tmp_path, ray_local):
    """On a CUDA machine, 2 workers on half a GPU each (gloo over CUDA tensors) train the supernet to the end."""
    from seknet.engine.ray_train import train_supernet_ddp

    tcfg = TrainConfig(epochs=2, batch_size=32, seed=1)
    net, losses, _, restarts = train_supernet_ddp(
        tcfg, Paths(digits), tiny_data, tmp_path / "c.pt", 2, gpus_per_worker=0.5
    )
    assert len(losses) == 2 and all(map(math.isfinite, losses)) and restarts == 0
    assert next(net.parameters()).device.type == "cpu"
