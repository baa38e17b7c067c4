"""A portable copy of a model: ONNX export, and onnxruntime inference.

``heartbeat export --model M`` writes ``M/model.onnx``: the network and its softmax, at a pinned
opset, with a dynamic batch axis. Its inputs are ``beats`` (batch, 1, 187) float32 and, for a
model trained with rhythm, ``rhythm`` (batch, 8) float32; its output is ``probabilities``
(batch, classes). ``--runtime onnx`` on predict, evaluate and serve runs it with onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from heartbeat.choices import RUNTIMES  # noqa: F401  (re-exported: modelio checks a runtime against it)
from heartbeat.data.beatset import BEAT_LEN, DataError

OPSET = 18
FILENAME = "model.onnx"


class _WithSoftmax(nn.Module):
    def __init__(self, net: nn.Module, rhythm: bool):
        super().__init__()
        self.net, self.rhythm = net, rhythm

    def forward(self, beats: torch.Tensor, rhythm: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.net(beats, rhythm) if self.rhythm else self.net(beats)  # (batch, classes)
        return torch.softmax(logits, dim=1)


def export_onnx(model, out: str | Path | None = None) -> Path:
    """Write ``model.onnx`` for a loaded deep model (heartbeat.inference.modelio.LoadedModel); returns its path."""
    if not isinstance(model.net, nn.Module):
        raise DataError(f"model {model.tag} ({model.family}) is not a neural network: ONNX export covers the deep "
                        "families only")
    out = Path(out or model.path / FILENAME)
    k = model.inputs.num_rhythm
    wrapper = _WithSoftmax(model.net, bool(k)).eval()
    args = (torch.rand(2, 1, BEAT_LEN),) + ((torch.ones(2, k),) if k else ())
    names = ["beats"] + (["rhythm"] if k else [])
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(wrapper, args, str(tmp), input_names=names, output_names=["probabilities"],
                      dynamic_axes={n: {0: "batch"} for n in [*names, "probabilities"]}, opset_version=OPSET,
                      dynamo=False)
    tmp.replace(out)  # never a half-written model.onnx
    return out


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime session of ``path`` on the CPU (``threads``: intra-op threads, default ORT's own)."""
    import onnxruntime as ort  # onnxruntime: only for the onnx runtime

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path.parent}: no {FILENAME}; write it first with 'heartbeat export --model {path.parent}'")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_proba(session, X: np.ndarray, rhythm: np.ndarray | None, batch_size: int = 4096) -> np.ndarray:
    """Probabilities (n, classes) from an onnxruntime session, in batches."""
    wants_rhythm = any(i.name == "rhythm" for i in session.get_inputs())
    out = []
    for i in range(0, len(X), batch_size):
        feed = {"beats": np.ascontiguousarray(X[i:i + batch_size, None, :], dtype=np.float32)}
        if wants_rhythm:
            feed["rhythm"] = np.ascontiguousarray(rhythm[i:i + batch_size], dtype=np.float32)
        out.append(session.run(["probabilities"], feed)[0])
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
