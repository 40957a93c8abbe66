"""The serving contract, defined once: signature, input and output names, shared by the exporter,
the export check, the local server, the client, evaluation and the bench (as TF Serving's clients
keep them). Light: no TensorFlow."""

from bert_cls.config import INT64_MAX

DEFAULT_MODEL_NAME = "bert_cls"

SERVING_SIGNATURE = "serving_default"  # raw texts in
ENCODED_SIGNATURE = "encoded"  # token ids in, for clients that tokenize themselves

TEXT_INPUT = "text"
TEXT_PAIR_INPUT = "text_pair"  # sentence-pair models: the second text, tf.string [batch]
ENCODED_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

PROBABILITIES = "probabilities"  # float32 [batch, num_labels]
LABEL_ID = "label_id"  # int64 [batch]
LABEL = "label"  # string [batch]
OUTPUTS = (PROBABILITIES, LABEL_ID, LABEL)
# Multi-label models instead: probabilities (a sigmoid per class) and
PREDICTED = "predicted"  # int64 [batch, num_labels]: 1 where probability >= the class's threshold
LABELS = "labels"  # string [batch, num_labels]: the class name where predicted, else ""
MULTI_LABEL_OUTPUTS = (PROBABILITIES, PREDICTED, LABELS)

# What an export records about itself, in assets.extra (TF Serving ignores the file): its precision and
# MAX_TOKENS_KEY, the longest token sequence its graph reads, which bounds numeric requests before they are decoded.
METADATA_FILE = "bert_cls_export.json"
MAX_TOKENS_KEY = "max_tokens_per_row"
# The bound for a SavedModel that does not record it (an export older than the key, or another model): BERT's
# usual position table.
DEFAULT_MAX_TOKENS = 512

DEFAULT_TIMEOUT_S = 10.0
# TF Serving's own gRPC message limit is configurable; 64 MiB covers 10,000-text batches.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# `bert-cls serve`'s default bounds on one request (--max-request-rows, --max-text-bytes)
DEFAULT_MAX_ROWS = 10_000
DEFAULT_MAX_TEXT_BYTES = 1024 * 1024
# `bert-cls serve`'s REST connections: TF Serving's --rest_api_timeout_in_ms default (30 s), and a cap on
# connections held at once (--rest-api-max-connections; each holds a thread)
DEFAULT_REST_TIMEOUT_S = 30.0
DEFAULT_MAX_CONNECTIONS = 100

# TF Serving's version numbers are int64 (``ModelSpec.version`` is an ``Int64Value``): INT64_MAX, defined once in
# bert_cls.config, whose number checks bound every integer flag by it.


def version_problem(version):
    """Why ``version`` cannot name a TF Serving version, or ``None`` when it can (``None`` asks for the latest)."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= INT64_MAX:
        return f"version {version} is out of range: a version is an integer from 0 to {INT64_MAX}"
    return None
