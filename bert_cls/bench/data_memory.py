#!/usr/bin/env python
"""Peak memory of training on a 150,000-row file against a 1,500,000-row one, and read speed, per format.

    python -m bert_cls.bench.data_memory --nsmc ../shared/nsmc/ratings_train.txt --output bench/data_memory.json

Writes NSMC's training file as TSV, CSV, JSON Lines and Parquet, once as it is (150,000 rows) and
once repeated ten times (1,500,000 rows), under --work-dir. For each file it runs a short
`bert-cls train` in its own process (--max-steps steps of one epoch, a small --validation-file so
validation stays short; the counting pass still reads the whole file) and reads the child's peak
resident memory from os.wait4. Read speed is the counting pass alone (`stream.count_files`), in
this process. Goal (issue 8): the larger file adds less than 100 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import bert_cls  # noqa: F401  (environment for TensorFlow before anything imports it)
from bert_cls.data import stream
from bert_cls.data.files import read_dataset

FORMATS = ("tsv", "csv", "jsonl", "parquet")


def write_copies(nsmc: Path, work: Path, repeat: int) -> dict:
    """{(format, rows): path}: the NSMC file in each format, as it is and repeated."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_dataset(nsmc)
    paths = {}
    for times in (1, repeat):
        texts, labels = data.texts * times, data.labels.tolist() * times
        rows = len(texts)
        base = work / f"nsmc_{rows}"
        with open(f"{base}.tsv", "w", encoding="utf-8") as handle:
            handle.write("id\tdocument\tlabel\n")
            handle.writelines(f"{i}\t{t}\t{y}\n" for i, (t, y) in enumerate(zip(texts, labels)))
        import csv

        with open(f"{base}.csv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "document", "label"])
            writer.writerows(zip(range(rows), texts, labels))
        with open(f"{base}.jsonl", "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"document": t, "label": y}, ensure_ascii=False) + "\n" for t, y in zip(texts, labels))
        pq.write_table(pa.table({"document": texts, "label": labels}), f"{base}.parquet")
        for fmt in FORMATS:
            paths[(fmt, rows)] = Path(f"{base}.{fmt}")
    return paths


def peak_rss_of_training(train_file: Path, validation_file: Path, args, out: Path) -> dict:
    command = [
        sys.executable,
        "-m",
        "bert_cls",
        "train",
        "--train-file",
        str(train_file),
        "--validation-file",
        str(validation_file),
        "--pretrained",
        args.pretrained,
        "--label-names",
        "negative,positive",
        "--epochs",
        "1",
        "--max-steps",
        str(args.max_steps),
        "--batch-size",
        "32",
        "--max-length",
        str(args.max_length),
        "--output-dir",
        str(out),
        "--verbose",
        "0",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"training on {train_file} failed:\n{process.stderr.read()[-2000:]}")
    shutil.rmtree(out, ignore_errors=True)
    return {"peak_rss_mb": usage.ru_maxrss / 1024.0, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nsmc", type=Path, default=Path("../shared/nsmc/ratings_train.txt"))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/bert-cls-data-memory"))
    parser.add_argument("--pretrained", default="all-MiniLM-L6-v2")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing {len(FORMATS)} formats x 2 sizes under {args.work_dir}", flush=True)
    paths = write_copies(args.nsmc, args.work_dir, args.repeat)
    validation = args.work_dir / "validation.tsv"
    with open(args.nsmc, encoding="utf-8") as src:
        validation.write_text("".join(next(src) for _ in range(201)), encoding="utf-8")
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "pretrained": args.pretrained,
        "max_steps": args.max_steps,
        "formats": {},
    }
    for fmt in FORMATS:
        row = {}
        for (f, rows), path in sorted(paths.items()):
            if f != fmt:
                continue
            started = time.perf_counter()
            census = stream.count_files(path, stream.Columns())
            read_seconds = time.perf_counter() - started
            assert census.per_file_counts.sum() == rows
            run = peak_rss_of_training(path, validation, args, args.work_dir / f"run_{fmt}_{rows}")
            row[str(rows)] = {"file_mb": path.stat().st_size / 2**20, "read_rows_per_second": rows / read_seconds, **run}
            print(
                f"{fmt:>8} {rows:>9} rows: {row[str(rows)]['file_mb']:7.1f} MB file, "
                f"read {rows / read_seconds:9.0f} rows/s, training peak RSS {run['peak_rss_mb']:7.0f} MB "
                f"({run['seconds']:.0f} s)",
                flush=True,
            )
        small, large = (row[k]["peak_rss_mb"] for k in sorted(row, key=int))
        row["added_mb"] = large - small
        result["formats"][fmt] = row
        print(f"{fmt:>8}: the 10x file adds {large - small:.0f} MB", flush=True)
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
