"""engine: training and scoring, in this process or on Ray. What this ``__all__`` names is public, the modules
``ray_trials`` (the shared stand-alone runner: ``train_jobs``, ``standalone_trainable``), ``train`` (the training
loop ``train.train``), ``ray_session`` (a local or joined Ray, ``ray_session.ray_session``) and ``latency``
(measuring) included; the other names of the folder are internal. A module keeps its name here: no function is
exported under the name of a module, so ``import seknet.engine.train`` is the module."""

from seknet.engine import latency, ray_session, ray_trials, train  # modules (train.train, ray_session.ray_session)
from seknet.engine.averaging import WeightAverages
from seknet.engine.ray_train import train_supernet_ddp
from seknet.engine.samplers import Paths
from seknet.engine.score import score_correct, score_logits
from seknet.engine.standalone import initial_model, train_standalone
from seknet.engine.supernet_training import train_supernet
from seknet.engine.train import TrainConfig, evaluate, load_checkpoint, save_checkpoint, sgd_cosine

__all__ = [
    "Paths",
    "TrainConfig",
    "WeightAverages",
    "evaluate",
    "initial_model",
    "latency",
    "load_checkpoint",
    "ray_session",
    "ray_trials",
    "save_checkpoint",
    "score_correct",
    "score_logits",
    "sgd_cosine",
    "train",
    "train_standalone",
    "train_supernet",
    "train_supernet_ddp",
]
