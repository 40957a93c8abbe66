"""Where an exported model spends its time: one traced call, op time by type.

The export is loaded as TensorFlow Serving loads it (``tf.compat.v1.saved_model.loader`` into a session, fed by
the signature's tensor names), so grappler's rewrites, the oneDNN fusions among them, are those TF Serving gets.
One call runs with ``RunOptions.FULL_TRACE``; its ``RunMetadata.step_stats`` name every executed kernel with its
op type and time. Used by ``bert-cls bench`` (op-type shares before and after a change) and by the test that
proves the dense layers run fused (``tests/fused_graph_test.py``).
"""

from __future__ import annotations

import collections
import dataclasses
import re
import time

import numpy as np
from tensorflow.python.util import deprecation

from bert_cls.modeling.keras_compat import tf

# Function calls: their time is the time of the kernels inside them, which are listed too.
CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
# "[allocator sizes] name = OpType(inputs)" in a NodeExecStats' timeline_label (the sizes only on kernels that allocate)
_LABEL = re.compile(r"^(?:\[[^\]]*\] )?\S+ = (?P<op>[A-Za-z0-9_]+)\(")


@dataclasses.dataclass
class OpProfile:
    """Kernels of one traced call: ``(node name, op type, microseconds)`` (function-call ops left out: their
    kernels are listed themselves) and the call's wall time."""

    kernels: list
    wall_seconds: float

    def op_types(self) -> collections.Counter:
        """How many kernels of each op type ran."""
        return collections.Counter(op for _, op, _ in self.kernels)

    def seconds_by_type(self) -> dict:
        totals = collections.defaultdict(float)
        for _, op, micros in self.kernels:
            totals[op] += micros / 1e6
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def shares(self, top: int = 12) -> dict:
        """The ``top`` op types' shares of summed kernel time, largest first (``other`` for the rest)."""
        seconds = self.seconds_by_type()
        total = sum(seconds.values()) or 1.0
        out = {op: round(s / total, 4) for op, s in list(seconds.items())[:top]}
        rest = sum(list(seconds.values())[top:])
        if rest:
            out["other"] = round(rest / total, 4)
        return out


def profile_export(export_dir, inputs: dict, signature: str = "serving_default", warmup: int = 2) -> OpProfile:
    """Loads ``export_dir`` in a TF 1 session as TF Serving does, runs ``signature`` on ``inputs`` (a dict of
    arrays or lists by input name) ``warmup`` times, then once traced."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving links them)

    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        with deprecation.silence():  # TF Serving's loader, deliberately: not "use tf.saved_model.load instead"
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir))
        signature_def = meta_graph.signature_def[signature]
        feed = {signature_def.inputs[name].name: np.asarray(value) for name, value in inputs.items()}
        fetches = {name: info.name for name, info in signature_def.outputs.items()}
        for _ in range(warmup):
            session.run(fetches, feed)
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        metadata = tf.compat.v1.RunMetadata()
        started = time.perf_counter()
        session.run(fetches, feed, options=options, run_metadata=metadata)
        wall = time.perf_counter() - started
    kernels = []
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            match = _LABEL.match(node.timeline_label)
            if match and match["op"] not in CALL_OPS:
                kernels.append((node.node_name, match["op"], node.op_end_rel_micros))
    return OpProfile(kernels, wall)
