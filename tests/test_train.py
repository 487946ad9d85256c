from __future__ import annotations

import pytest
import torch

import seknet
from seknet.data.split import Split
from seknet.engine import samplers
from seknet.engine.samplers import Paths, balanced_arch, extreme_archs, fair_archs
from seknet.engine.train import TrainConfig, checkpoint_epochs, train
from seknet.nn.supernet import Supernet


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    return Split(torch.randn(64, 1, 16, 16, generator=g), torch.randint(0, 10, (64,), generator=g))


def _trained(space, data, **kw):
    torch.manual_seed(0)
    net = Supernet(space)
    losses = train(net, data, TrainConfig(epochs=2, batch_size=16, **kw), paths=Paths(space), progress=False)
    return net, losses


def test_seeded_training_is_repeatable(digits, tiny):
    """On CPU, the same seed gives bit-identical supernet weights and losses; another seed does not."""
    a, la = _trained(digits, tiny, seed=3)
    b, lb = _trained(digits, tiny, seed=3)
    c, _ = _trained(digits, tiny, seed=4)
    assert la == lb
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert any(not torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values(), strict=True))


def test_sandwich_step_is_largest_smallest_then_random(digits):
    """A sandwich step: the largest and the smallest arch by MACs, then SANDWICH_RANDOM random ones."""
    import random

    largest, smallest = extreme_archs(digits)
    macs = [seknet.count(a).macs for a in digits.archs()]
    assert seknet.count(largest).macs == max(macs) and seknet.count(smallest).macs == min(macs)
    archs = Paths(digits, "sandwich").step(random.Random(0))
    assert archs[:2] == [largest, smallest] and len(archs) == 2 + samplers.SANDWICH_RANDOM


def test_sandwich_trains_the_extremes(digits, tiny, monkeypatch):
    """With no random archs, a sandwich epoch moves exactly the extremes' weights: the largest arch's SE(4)
    and the smallest's SK(2) path 1 change, SK path 2 (only sk3 and sk4 use it) keeps its initial values."""
    largest, smallest = extreme_archs(digits)
    assert str(largest) == "se4-se4-se4-se4" and str(smallest) == "sk2-sk2-sk2-sk2"
    torch.manual_seed(0)
    net = Supernet(digits)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    monkeypatch.setattr(samplers, "SANDWICH_RANDOM", 0)
    losses = train(
        net,
        tiny,
        TrainConfig(epochs=1, batch_size=32),
        paths=Paths(digits, "sandwich"),
        progress=False,
    )
    after = net.state_dict()
    assert len(losses) == 1 and losses[0] > 0
    for i in range(len(digits.stages)):
        sk = f"stages.{i}.0.conv1.sk.paths"
        assert not torch.equal(before[f"{sk}.1.conv.weight"], after[f"{sk}.1.conv.weight"])
        assert torch.equal(before[f"{sk}.2.conv.weight"], after[f"{sk}.2.conv.weight"])
        assert not torch.equal(before[f"stages.{i}.0.attn.se.fc1.weight"], after[f"stages.{i}.0.attn.se.fc1.weight"])


def test_fair_sampler_takes_every_choice_once_per_stage(digits):
    """fair_archs: len(choices) archs, and in each stage every choice appears exactly once."""
    import random

    archs = fair_archs(digits, random.Random(0))
    assert len(archs) == len(digits.choices)
    for i in range(len(digits.stages)):
        assert sorted(str(a.choices[i]) for a in archs) == sorted(digits.choices)


def test_fair_sampler_trains_every_choice_every_step(digits, tiny):
    """One fair step moves SK path 4 (only sk4 uses it) and SE's last rows (only se4 uses them) in every stage."""
    torch.manual_seed(0)
    net = Supernet(digits)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train(net, tiny, TrainConfig(epochs=1, batch_size=64), paths=Paths(digits, "fair"), progress=False)
    after = net.state_dict()
    for i in range(len(digits.stages)):
        k = f"stages.{i}.0.conv1.sk.paths.3.conv.weight"
        assert not torch.equal(before[k], after[k]), k
        k = f"stages.{i}.0.attn.se.fc1.weight"
        rows = before[k].shape[0]
        assert not torch.equal(before[k][rows // 2 :], after[k][rows // 2 :]), k


def test_subspace_trains_only_its_archs(digits, tiny):
    """A few-shot sub-supernet (subspace) samples only its archs: SE(4) of the last stage moves, no SK path and
    no other stage's SE does; a subspace with another sampler, or empty, is refused."""
    torch.manual_seed(0)
    net = Supernet(digits)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    only = [digits.parse("none-none-none-se4")]
    train(
        net,
        tiny,
        TrainConfig(epochs=1, batch_size=16),
        paths=Paths(digits, subspace=tuple(only)),
        progress=False,
    )
    after = net.state_dict()
    assert not torch.equal(before["stages.3.0.attn.se.fc1.weight"], after["stages.3.0.attn.se.fc1.weight"])
    for i in range(len(digits.stages)):
        assert torch.equal(
            before[f"stages.{i}.0.conv1.sk.paths.1.conv.weight"],
            after[f"stages.{i}.0.conv1.sk.paths.1.conv.weight"],
        )
        if i < 3:
            assert torch.equal(
                before[f"stages.{i}.0.attn.se.fc1.weight"],
                after[f"stages.{i}.0.attn.se.fc1.weight"],
            )
    with pytest.raises(ValueError, match="subspace"):
        Paths(digits, "sandwich", tuple(only))
    with pytest.raises(ValueError, match="subspace"):
        Paths(digits, subspace=())


def test_an_unknown_sampler_names_the_valid_ones_and_one_per_step_is_what_each_draws(digits):
    """An unknown sampler names the registered ones; a sampler registered with one_per_step draws exactly one arch
    per step, and the others more (what data-parallel training relies on)."""
    import random

    from seknet.core.plugins import SAMPLERS

    with pytest.raises(ValueError, match=r"unknown sampler 'greedy'; valid: uniform\|sandwich"):
        Paths(digits, "greedy")
    for name, plugin in SAMPLERS.items():
        drawn = Paths(digits, name).step(random.Random(0))
        assert (len(drawn) == 1) == plugin.info["one_per_step"], name


def test_freeze_unused_leaves_rows_the_step_did_not_use(digits, tiny):
    """With freeze_unused, SE rows beyond C/r and SK select rows beyond M*C stay put when only se16/sk2 train;
    without it, weight decay and momentum move them though their gradient is zero."""
    arch = digits.parse("se16-sk2-se16-sk2")

    def trained(freeze: bool) -> tuple[dict, dict]:
        torch.manual_seed(0)
        net = Supernet(digits)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        cfg = TrainConfig(epochs=1, batch_size=16, freeze_unused=freeze)
        train(net, tiny, cfg, paths=Paths(digits, subspace=(arch,)), progress=False)
        return before, net.state_dict()

    se, sk = "stages.0.0.attn.se.fc1.weight", "stages.1.0.conv1.sk.select.weight"
    h, c = 32 // 16, 48  # SE(16) on 32 channels; SK select rows per path on 48 channels
    before, after = trained(True)
    assert torch.equal(before[se][h:], after[se][h:]) and not torch.equal(before[se][:h], after[se][:h])
    assert torch.equal(before[sk][2 * c :], after[sk][2 * c :]) and not torch.equal(
        before[sk][: 2 * c], after[sk][: 2 * c]
    )
    before, after = trained(False)
    assert not torch.equal(before[se][h:], after[se][h:]) and not torch.equal(before[sk][2 * c :], after[sk][2 * c :])


def test_balanced_sampler_gives_the_plain_and_the_sk_conv_half_the_steps_each(digits):
    """balanced_arch: per stage, SK(M) on ~1/2 of the draws (uniform gives 3/8), each plain choice on ~1/10."""
    import random
    from collections import Counter

    rng, n = random.Random(0), 4000
    drawn = Counter(str(c) for _ in range(n) for c in balanced_arch(digits, rng).choices)
    total = n * len(digits.stages)
    sk = sum(v for c, v in drawn.items() if c.startswith("sk")) / total
    assert abs(sk - 0.5) < 0.02  # binomial SD 0.004
    assert abs(drawn["none"] / total - 0.1) < 0.01 and abs(drawn["sk2"] / total - 1 / 6) < 0.01
    assert Paths(digits, "balanced").step(random.Random(1)) == [balanced_arch(digits, random.Random(1))]


def test_training_stopped_after_an_epoch_resumes_to_the_uninterrupted_weights(digits, tiny, tmp_path):
    """Interrupted after epoch 2 of 3 with a checkpoint, then run again on it: the same losses, training accuracies
    and bit-identical weights as one uninterrupted run (CPU), and the finished epochs are not trained again."""
    cfg = TrainConfig(epochs=3, batch_size=16, seed=5)

    def fresh():
        torch.manual_seed(0)
        return Supernet(digits)

    whole, want_acc, got_acc = fresh(), [], []
    want = train(whole, tiny, cfg, paths=Paths(digits), progress=False, accuracies=want_acc)
    ck = tmp_path / "checkpoint.pt"

    def stop(epoch, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(fresh(), tiny, cfg, paths=Paths(digits), progress=False, checkpoint=ck, on_epoch=stop)
    epochs_run = []
    resumed = fresh()
    got = train(
        resumed,
        tiny,
        cfg,
        paths=Paths(digits),
        progress=False,
        checkpoint=ck,
        on_epoch=lambda e, _: epochs_run.append(e),
        accuracies=got_acc,
    )
    assert got == want and epochs_run == [3] and got_acc == want_acc and len(want_acc) == 3
    assert all(
        torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True)
    )


def test_an_epochs_training_accuracy_is_the_share_of_its_batches_the_model_got_right(digits, tiny):
    """With a learning rate of 0 and one batch of the whole split, the epoch's training accuracy equals the top-1
    of the model's own train-mode outputs on that split (BN on the batch's statistics), computed beside it."""
    torch.manual_seed(0)
    model = seknet.build_model(digits.parse("se16-sk2-none-sk3"))
    model.train()
    with torch.no_grad():
        want = float((model(tiny.x).argmax(1) == tiny.y).float().mean())
    accs: list[float] = []
    train(model, tiny, TrainConfig(epochs=2, batch_size=len(tiny), lr=0.0), progress=False, accuracies=accs)
    assert accs == pytest.approx([want, want], abs=1e-9) and 0 < want < 1


def test_a_damaged_checkpoint_is_one_line(digits, tiny, tmp_path):
    """A checkpoint that is not one (truncated, foreign) is a ValueError naming it and the fix."""
    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint.pt: not a training checkpoint of this run .*remove it"):
        train(
            Supernet(digits),
            tiny,
            TrainConfig(epochs=1, batch_size=16),
            paths=Paths(digits),
            progress=False,
            checkpoint=ck,
        )


def test_checkpoint_minutes_limits_how_often_the_checkpoint_is_written(digits, tiny, tmp_path, monkeypatch):
    """With checkpoint_minutes = 10 and 4 epochs that take 6 (fake) minutes each, the checkpoint is written after
    epochs 1 and 3 only (never twice within 10 minutes); with 0, after every epoch."""
    import seknet.engine.train as T

    clock, written = [0.0], []
    monkeypatch.setattr(T.time, "monotonic", lambda: clock[0])
    real_save = T.save_checkpoint
    monkeypatch.setattr(
        T,
        "save_checkpoint",
        lambda path, losses, *a: (written.append(len(losses)), real_save(path, losses, *a)),
    )

    def tick(epoch, loss):
        clock[0] += 360.0

    for minutes, want in ((10.0, [1, 3]), (0.0, [1, 2, 3, 4])):
        written.clear()
        ck = tmp_path / f"checkpoint-{minutes}.pt"
        cfg = TrainConfig(epochs=4, batch_size=64, seed=1, checkpoint_minutes=minutes)
        train(
            Supernet(digits),
            tiny,
            cfg,
            paths=Paths(digits),
            progress=False,
            checkpoint=ck,
            on_epoch=tick,
        )
        assert written == want and checkpoint_epochs(ck) == want[-1]
    with pytest.raises(ValueError, match="checkpoint_minutes must be >= 0"):
        TrainConfig(checkpoint_minutes=-1)


def test_a_training_stopped_early_has_the_first_epochs_of_its_whole_schedule_and_not_a_shorter_one(digits, tiny):
    """stop_epoch 2 of a 4-epoch schedule: the losses and bit-identical weights the 4-epoch training had after its
    epoch 2 (the learning rate still at half its peak), not those of a complete 2-epoch schedule; a stop past the
    schedule is refused."""
    import copy

    arch = digits.parse("se4-none-sk2-none")

    def run(**kw):
        torch.manual_seed(0)
        model, at = seknet.build_model(arch), {}

        def keep(epoch, _):
            at[epoch] = copy.deepcopy(model.state_dict())

        losses = train(model, tiny, TrainConfig(batch_size=16, seed=1, **kw), progress=False, on_epoch=keep)
        return model.state_dict(), losses, at

    _, whole_losses, whole_at = run(epochs=4)
    stopped, losses, at = run(epochs=4, stop_epoch=2)
    short, short_losses, _ = run(epochs=2)
    assert sorted(at) == [1, 2] and losses == whole_losses[:2] != short_losses
    assert all(torch.equal(stopped[k], v) for k, v in whole_at[2].items())
    assert any(not torch.equal(stopped[k], v) for k, v in short.items() if v.is_floating_point())
    with pytest.raises(ValueError, match="stop_epoch must be in 0..epochs"):
        TrainConfig(epochs=2, stop_epoch=3)


def test_a_training_continued_from_its_early_stop_ends_with_the_weights_and_swa_of_one_that_never_stopped(
    digits, tiny, tmp_path
):
    """A verify job that stops after epoch 2 of 4 leaves its state; the job of the same arch and seed over the whole
    schedule continues from it and ends bit-identical (weights and SWA read) to a training that never stopped. A
    retried continuation starts from the early state again (its own copy), and a stale state is not resumed by a
    new early training (its EMA is not in the file)."""
    from seknet.engine.averaging import WeightAverages
    from seknet.engine.ray_trials import job_config, job_state
    from seknet.engine.standalone import train_standalone

    arch, state = digits.parse("se4-none-sk2-none"), tmp_path / "states" / "a.pt"
    tcfg = TrainConfig(epochs=4, batch_size=16, seed=1)
    early = {"arch": str(arch), "seed": 1, "epochs": 2, "schedule": 4, "state": str(state)}
    whole = early | {"epochs": 4}

    trained = []  # the epochs each training ran

    def run(job, use_state=True):
        cfg, averages, epochs = job_config(tcfg, job), WeightAverages(tcfg.epochs), []
        checkpoint = job_state(job, cfg) if use_state else None
        model = train_standalone(arch, tiny, cfg, "cpu", None, lambda e, _: epochs.append(e), averages, checkpoint)
        trained.append(epochs)
        return model.state_dict(), averages.swa_model(model, tiny).state_dict() if not cfg.stop_epoch else None

    run(early)
    assert checkpoint_epochs(state) == 2
    continued, continued_swa = run(whole)
    assert trained == [[1, 2], [3, 4]]  # the continuation trained only the epochs left
    assert checkpoint_epochs(state) == 2  # the early state is kept: the continuation wrote its own copy
    again, _ = run(whole)
    never, never_swa = run(whole, use_state=False)
    for got in (continued, again):
        assert all(torch.equal(got[k], v) for k, v in never.items())
    assert all(torch.equal(continued_swa[k], v) for k, v in never_swa.items())
    state.write_bytes(b"stale")
    run(early)  # an early training starts afresh over a stale file
    assert checkpoint_epochs(state) == 2
