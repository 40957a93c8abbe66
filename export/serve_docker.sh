#!/usr/bin/env bash
# Start the TensorFlow Serving container on a bert-cls export base path.
#   export/serve_docker.sh /abs/path/to/export_base [model_name]
# gRPC on 8500, REST on 8501, batching and warm-up (assets.extra/tf_serving_warmup_requests) enabled,
# Prometheus metrics at http://localhost:8501/monitoring/prometheus/metrics (monitoring.config).
# TF Serving 2.20 bundles TF Text 2.20, which has the tokenizer ops the export uses.
set -euo pipefail
base=${1:?usage: $0 /abs/path/to/export_base [model_name]}
name=${2:-nsmc}
here=$(cd "$(dirname "$0")" && pwd)
base=$(cd "$base" && pwd)
exec docker run --rm --name "bert-cls-${name}" \
  -p 8500:8500 -p 8501:8501 \
  -v "${base}:/models/${name}:ro" \
  -v "${here}/batching_parameters.txt:/config/batching_parameters.txt:ro" \
  -v "${here}/monitoring.config:/config/monitoring.config:ro" \
  -e MODEL_NAME="${name}" \
  "tensorflow/serving:${TF_SERVING_VERSION:-2.20.0}" \
  --enable_batching=true \
  --batching_parameters_file=/config/batching_parameters.txt \
  --enable_model_warmup=true \
  --monitoring_config_file=/config/monitoring.config \
  --file_system_poll_wait_seconds=5
