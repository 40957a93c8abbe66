"""``bert-cls quickstart``: the whole path offline, on the bundled NSMC sample.

train -> evaluate -> export for TF Serving -> start the local server -> query it over gRPC and REST (printing the
curl command) -> stop the server. The default checkpoint is ``nsmc-small``, the small Korean BERT shipped in the
package; ``--pretrained all-MiniLM-L6-v2`` fine-tunes MiniLM instead, whose English vocabulary reads Korean as
jamo pieces (it shows the machinery, not the accuracy).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from bert_cls.apps.config import QuickstartConfig
from bert_cls.data.files import sample_path
from bert_cls.errors import BertClsError
from bert_cls.modeling.pretrained import MINILM_NAMES, NSMC_SMALL
from bert_cls.serving.client import ServingClient
from bert_cls.serving.export import export_classifier
from bert_cls.serving.process import ServerProcess
from bert_cls.serving.rest_client import RestClient
from bert_cls.training.config import EvaluateConfig, TrainConfig
from bert_cls.training.evaluate import evaluate_file
from bert_cls.training.run import train

# Measured on this sample: 1e-4 and above left MiniLM at chance, 3e-5..5e-5 learned; for nsmc-small, 1e-4 had the
# best validation accuracy of 5e-5, 1e-4 and 2e-4 (bench/pretrain_nsmc.json: 83.5 / 85.5 / 83.0%).
LEARNING_RATES = {NSMC_SMALL: 1e-4}
DEFAULT_LEARNING_RATE = 5e-5
CAVEATS = {
    NSMC_SMALL: "note: nsmc-small is a 4-layer BERT pretrained on NSMC's review texts only; for other Korean text, "
    "or the best accuracy, fine-tune a larger Korean checkpoint (klue/bert-base, beomi/kcbert-base) on a GPU.",
    MINILM_NAMES[0]: "note: all-MiniLM-L6-v2 has an English vocabulary (Korean becomes jamo pieces, many of them [UNK]), "
    "so this accuracy says little about BERT on NSMC; the default --pretrained nsmc-small reads Korean.",
}
QUERY_TEXTS = ["정말 재밌게 봤어요 최고의 영화", "돈 아깝다 최악", "배우들 연기는 좋았는데 스토리가 아쉽다"]


def curl_command(rest_url: str, model_name: str, texts) -> str:
    """A curl line a user can paste: TF Serving's REST predict, row format."""
    body = json.dumps({"instances": list(texts)}, ensure_ascii=False)
    return f"curl -s -X POST {rest_url}/v1/models/{model_name}:predict -d '{body}'"


def run_quickstart(config: QuickstartConfig) -> None:
    out = Path(config.output_dir)
    if out.exists() and any(out.iterdir()) and not config.overwrite:
        raise BertClsError(f"{out} already holds a quickstart: pass --overwrite or another --output-dir")
    started = time.perf_counter()
    model_dir, export_dir = out / "model", out / "export"
    learning_rate = config.learning_rate or LEARNING_RATES.get(config.pretrained, DEFAULT_LEARNING_RATE)
    print(
        f"[1/5] fine-tuning {config.pretrained} on {config.max_train_samples} reviews of the bundled NSMC sample "
        f"(learning rate {learning_rate:g})",
        flush=True,
    )
    result = train(
        TrainConfig(
            output_dir=str(model_dir),
            data="sample",
            pretrained=config.pretrained,
            epochs=config.epochs,
            max_train_samples=config.max_train_samples,
            max_length=config.max_length,
            learning_rate=learning_rate,
            batch_size=32,
            verbose=2,
            overwrite=config.overwrite,
        )
    )
    print("[2/5] evaluating on the bundled 1,000-review test sample", flush=True)
    metrics = evaluate_file(EvaluateConfig(model=str(model_dir), test_file=str(sample_path("test")), batch_size=64))
    print(f"      test accuracy {metrics['accuracy']:.4f} (validation {result.metrics['validation']['accuracy']:.4f})")
    caveat = CAVEATS.get(MINILM_NAMES[0] if config.pretrained in MINILM_NAMES else config.pretrained)
    if caveat:
        print("      " + caveat)
    print("[3/5] exporting for TensorFlow Serving", flush=True)
    report = export_classifier(result.classifier, export_dir, model_name="nsmc")
    print(f"      {report['path']} (parity with the in-memory model: max |diff| {max(report['max_abs_diff'].values()):.1e})")
    print("[4/5] starting the local TF-Serving-compatible server (gRPC and REST)", flush=True)
    with ServerProcess(export_dir, "nsmc", log_file=out / "server.log", rest=True) as server:
        print(f"[5/5] querying {server.address} over gRPC", flush=True)
        with ServingClient(server.address, "nsmc") as client:
            over_grpc = client.predict(QUERY_TEXTS)
            for p in over_grpc:
                print(f"      {p.label:>8} {max(p.probabilities):.3f}  {p.text}")
        print(f"      and over REST ({server.rest_url}); the same request with curl:", flush=True)
        with RestClient(server.rest_url, "nsmc") as client:
            over_rest = client.predict(QUERY_TEXTS)
        same = all(
            a.label == b.label and max(abs(x - y) for x, y in zip(a.probabilities, b.probabilities)) < 1e-5
            for a, b in zip(over_grpc, over_rest)
        )
        print("      " + curl_command(server.rest_url, "nsmc", QUERY_TEXTS[:1]))
        print(f"      REST answers {'equal' if same else 'DIFFER FROM'} the gRPC ones")
        if not same:
            raise BertClsError("the REST and gRPC answers differ: see the server log")
    print(f"server stopped. Done in {time.perf_counter() - started:.0f}s. Everything is in {out}/:")
    print(f"  model:   {model_dir}  (metrics.json, history.csv, training_curves.png, eval_*.json/png)")
    print(
        f"  export:  {export_dir}  (serve it: bert-cls serve --model-base-path {export_dir} --model-name nsmc "
        "--rest-api-port 8501)"
    )
    print(f"  server log: {out / 'server.log'}")
