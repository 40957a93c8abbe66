"""Names shared by the exporter, the local server and the client (as TF Serving's clients keep them)."""

DEFAULT_MODEL_NAME = "bert_cls"
SERVING_SIGNATURE = "serving_default"
ENCODED_SIGNATURE = "encoded"
TEXT_INPUT = "text"
OUTPUTS = ("probabilities", "label_id", "label")
DEFAULT_TIMEOUT_S = 10.0
# TF Serving's own gRPC message limit is configurable; 64 MiB covers 10,000-text batches.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
