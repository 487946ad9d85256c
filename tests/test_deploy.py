from __future__ import annotations

import pytest
import torch
import yaml

import search
import seknet
from seknet.engine.deploy import TOLERANCE, export_model
from tests.conftest import space_named


def _needs_onnx(fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
        pytest.importorskip("onnxscript", reason="pip install -e '.[onnx]'")


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "pt2"])
@pytest.mark.parametrize(
    "space,arch,side",
    [("digits", "se16-sk3-none-sk4", 16), ("imagenet_resnet50", "se16-none-sk2-se4", 64)],
)
def test_export_matches_pytorch_on_another_batch_size(tmp_path, fmt, space, arch, side):
    """The exported file gives PyTorch's outputs (<= 1e-4) on a batch of 5 though it was traced on a batch of 2
    (dynamic batch axis), for a digits arch and a ResNet-50-space arch with SE and SK."""
    _needs_onnx(fmt)
    torch.manual_seed(0)
    sp = space_named(space)
    model = seknet.build_model(sp.parse(arch)).eval()
    x = torch.randn(5, sp.in_channels, side, side)
    info = export_model(model, tmp_path / f"m.{fmt}", fmt, x[:2], x)
    assert info["batch_checked"] == 5 and info["max_abs_diff"] <= TOLERANCE
    assert (tmp_path / f"m.{fmt}").is_file() and not list(tmp_path.glob(".*.tmp*"))
    if fmt == "pt2":
        loaded = torch.export.load(str(tmp_path / "m.pt2")).module()
        assert torch.allclose(loaded(x[:3]), model(x[:3]), atol=TOLERANCE)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "pt2"])
def test_export_cli_writes_a_checked_deployable_model(smoke_run, tmp_path, fmt):
    """export --format writes the model beside the arch YAML and the weights; the YAML records the check."""
    _needs_onnx(fmt)
    out = tmp_path / "best.yaml"
    assert search.main(["export", str(smoke_run), "--max-macs", "6M", "--out", str(out), "--format", fmt]) == 0
    deploy = yaml.safe_load(out.read_text())["deploy"]
    assert deploy["format"] == fmt and deploy["max_abs_diff"] <= TOLERANCE and deploy["batch_checked"] == 8
    assert (tmp_path / deploy["file"]).is_file() and out.with_suffix(".pt").is_file()


def test_out_naming_an_onnx_file_writes_the_model_there_and_the_yaml_beside_it(smoke_run, tmp_path):
    """`export RUN --out model.onnx` (no --format): model.onnx is the ONNX model, which ONNX Runtime loads and runs,
    and the arch YAML and weights are model.yaml and model.pt beside it (before, the YAML was written over it)."""
    _needs_onnx("onnx")
    import onnxruntime as ort

    out = tmp_path / "model.onnx"
    assert search.main(["export", str(smoke_run), "--max-macs", "6M", "--out", str(out)]) == 0
    arch = seknet.load_arch(tmp_path / "model.yaml")
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: torch.zeros(3, 1, 16, 16).numpy()})[0]
    assert logits.shape == (3, arch.space.num_classes) and (tmp_path / "model.pt").is_file()


def test_out_of_another_format_than_format_is_refused(smoke_run, tmp_path, capsys):
    """--out model.onnx with --format pt2 names two formats: one line, exit 2, nothing written."""
    argv = [
        "export",
        str(smoke_run),
        "--max-macs",
        "6M",
        "--out",
        str(tmp_path / "model.onnx"),
        "--format",
        "pt2",
    ]
    assert search.main(argv) == 2
    assert "names a onnx file but --format is pt2" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_unknown_format_is_refused(tmp_path):
    """A format other than onnx|pt2|torchscript is a ValueError naming the valid ones."""
    with pytest.raises(ValueError, match="valid: onnx|pt2|torchscript"):
        export_model(torch.nn.Identity(), tmp_path / "m", "tflite", torch.zeros(1), torch.zeros(2))
