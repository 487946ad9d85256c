"""Deployable files of one model: ONNX (checked with ONNX Runtime) and TorchScript, each verified on a batch.

Both keep the batch axis dynamic: the file is written from an example batch of 2 and checked on a batch of
another size, against PyTorch's own outputs (max absolute difference <= ``TOLERANCE``), before it is put in
place (written to a temp file and renamed). ONNX needs the optional extra ``pip install -e '.[onnx]'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript"}
OPSET = 18  # ONNX opset of every export
TOLERANCE = 1e-4


def _onnx(model: nn.Module, example: Tensor, path: Path) -> None:
    import warnings

    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_shapes={"x": {0: batch}}, opset_version=OPSET, external_data=False,
                          verbose=False)  # fmt: skip


def _onnx_outputs(path: Path, x: Tensor) -> Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def export_model(model: nn.Module, path: Path, fmt: str, example: Tensor, check: Tensor) -> dict:
    """Write ``model`` (eval mode, CPU) to ``path`` as ``fmt``, traced on ``example`` and checked on ``check``.

    ``check`` should hold another batch size than ``example``, so the dynamic batch axis is exercised. Returns
    {format, file, opset, batch_checked, max_abs_diff}; ValueError (nothing written) when the outputs differ
    by more than ``TOLERANCE`` or the format's tools are missing.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown --format {fmt!r}; valid: {'|'.join(FORMATS)}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise ValueError(f"--format onnx needs onnx and onnxruntime ({e}); pip install -e '.[onnx]'") from None
    model = model.eval().cpu()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with torch.no_grad():
            want = model(check)
            if fmt == "onnx":
                _onnx(model, example, Path(tmp))
                got = _onnx_outputs(Path(tmp), check)
            else:
                torch.jit.save(torch.jit.trace(model, example), tmp)
                got = torch.jit.load(tmp)(check)
        diff = float((got - want).abs().max())
        if not diff <= TOLERANCE:
            raise ValueError(f"{path}: the {fmt} model's outputs differ from PyTorch's by {diff:.2e} > {TOLERANCE}")
        from seknet.report import umask_mode

        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {"format": fmt, "file": path.name, "opset": OPSET if fmt == "onnx" else None,
            "batch_checked": len(check), "max_abs_diff": diff}  # fmt: skip
