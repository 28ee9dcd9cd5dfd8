"""The ONNX Runtime session every network of faceproof runs in, with its options chosen once, here.

- One intra-op and one inter-op thread, sequential execution: a 2-core server parallelises across requests (the
  API's worker threads, the batch engine's processes), not inside one network.
- All graph optimisations (constant folding, Conv+BatchNorm fusion, the layout transformations for this CPU), done
  once when a session is built, never per request.
- No CPU memory arena of ONNX Runtime's own: each session's arena kept the buffers of its largest pass for the
  life of the process - 40 MB over the service's networks after one pass over the test fixtures (431 MiB resident
  with the arenas, 391 without, the C heap trimmed before reading). Passes still plan their buffers (memory
  patterns stay on) and take them from the C heap; no slower, measured (verify 160-172 ms with, 169 ms without).
- The serialized model is not kept: ORT's Python wrapper holds it for the life of the session, only to rebuild the
  session when a GPU provider falls back to the CPU (72 MB over the service's networks for a fallback a CPU-only
  session never makes; ORT's own source calls it "bad as we're holding the memory indefinitely").
"""

from __future__ import annotations

import onnxruntime as ort


def ort_session(model_bytes: bytes) -> ort.InferenceSession:
    """A CPU session for a serialized ONNX graph, with the options above."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_cpu_mem_arena = False
    opts.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    if getattr(session, "_model_bytes", None) is not None:  # see the module docstring: kept for a fallback only
        session._model_bytes = None
    return session
