"""Deployable files of one model, each verified on a batch: ONNX (checked with ONNX Runtime), a ``torch.export``
program (``.pt2``, loaded back with ``torch.export.load``) and TorchScript (deprecated in torch 2.13; kept while
torch supports it).

All keep the batch axis dynamic: the file is written from an example batch of 2 and checked on a batch of
another size, against PyTorch's own outputs (max absolute difference <= ``TOLERANCE``), before it is put in
place (written to a temp file and renamed). ONNX needs the optional extra ``pip install -e '.[onnx]'``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import Tensor, nn

from seknet.core.plugins import FORMATS

OPSET = 18  # ONNX opset of every export
TOLERANCE = 1e-4


# The registered formats (seknet.core.plugins.FORMATS): (model, example, path, check) -> the written model's outputs
# on ``check``, loaded back from ``path``.


def onnx(model: nn.Module, example: Tensor, path: Path, check: Tensor) -> Tensor:
    """Write ``model`` as ONNX (opset ``OPSET``, dynamic batch axis); its outputs on ``check`` in ONNX Runtime."""
    _onnx(model, example, path)
    return _onnx_outputs(path, check)


def _onnx(model: nn.Module, example: Tensor, path: Path) -> None:
    import warnings

    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["logits"],
            dynamic_shapes={"x": {0: batch}},
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )


def pt2(model: nn.Module, example: Tensor, path: Path, check: Tensor) -> Tensor:
    """Write ``model`` as a ``torch.export`` program, dynamic batch axis; its outputs on ``check``, loaded back."""
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))
    return torch.export.load(str(path)).module()(check)


def torchscript(model: nn.Module, example: Tensor, path: Path, check: Tensor) -> Tensor:
    """Write ``model`` traced to TorchScript; its outputs on ``check``, loaded back. torch 2.13 deprecates
    TorchScript; the user asked for it by name, so its deprecation warnings are not repeated here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(model, example), str(path))
        return torch.jit.load(str(path))(check)


def _onnx_outputs(path: Path, x: Tensor) -> Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


def _check_extra(fmt: str) -> None:
    """ValueError naming the pip extra when the packages of ``fmt``'s registered ``extra`` are missing (onnx: the
    exporter's onnx and onnxruntime, which import only when the model is written)."""
    extra = FORMATS[fmt].info.get("extra")
    if extra == "onnx":
        try:
            import onnx as onnx_package  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise ValueError(f"--format onnx needs onnx and onnxruntime ({e}); pip install -e '.[onnx]'") from None


def export_model(model: nn.Module, path: Path, fmt: str, example: Tensor, check: Tensor) -> dict:
    """Write ``model`` (eval mode, CPU) to ``path`` as ``fmt``, traced on ``example`` and checked on ``check``.

    ``check`` should hold another batch size than ``example``, so the dynamic batch axis is exercised. Returns
    {format, file, opset, batch_checked, max_abs_diff}; ValueError (nothing written) when the outputs differ
    by more than ``TOLERANCE`` or the format's tools are missing.
    """
    write = FORMATS[fmt].load()  # an unknown format: one ValueError naming the registered ones
    _check_extra(fmt)
    model = model.eval().cpu()
    path = Path(path)
    # the temp file keeps the format's suffix: torch.export.load reads a .pt2 by its name
    suffix = FORMATS[fmt].info["suffix"]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        with torch.no_grad():
            want = model(check)
            got = write(model, example, Path(tmp), check)
        diff = float((got - want).abs().max())
        if not diff <= TOLERANCE:
            raise ValueError(f"{path}: the {fmt} model's outputs differ from PyTorch's by {diff:.2e} > {TOLERANCE}")
        from seknet.core.fileio import umask_mode

        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return {
        "format": fmt,
        "file": path.name,
        "opset": OPSET if fmt == "onnx" else None,
        "batch_checked": len(check),
        "max_abs_diff": diff,
    }
