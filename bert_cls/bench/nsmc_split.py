"""The fixed NSMC split the pretraining benchmarks use: 135,000 training and 15,000 test reviews of
``../shared/nsmc/ratings_train.txt``.

The test part holds every review of the bundled 1,000-review test sample (``bert_cls/resources/nsmc_sample_test.tsv``)
and 14,000 more drawn at random (seed 20261130), so a checkpoint pretrained on the training part has never read a
review that any figure of the benchmarks is tested on. Writes ``train.tsv`` and ``test.tsv`` (NSMC's format).

    python -m bert_cls.bench.nsmc_split --output-dir /tmp/nsmc-split
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
TEST_SIZE = 15_000
SEED = 20261130


def read(path: Path) -> tuple:
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0], lines[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nsmc", default=str(ROOT.parent / "shared/nsmc/ratings_train.txt"))
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    header, rows = read(Path(args.nsmc))
    bundled = {line.split("\t")[1] for line in read(ROOT / "bert_cls/resources/nsmc_sample_test.tsv")[1]}
    test = [r for r in rows if r.split("\t")[1] in bundled]
    rest = [r for r in rows if r.split("\t")[1] not in bundled]
    random.Random(SEED).shuffle(rest)
    extra = TEST_SIZE - len(test)
    test, train = test + rest[:extra], rest[extra:]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train.tsv", train), ("test.tsv", test)):
        (out / name).write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
    print(f"wrote {out}/train.tsv ({len(train):,} reviews) and {out}/test.tsv ({len(test):,})")


if __name__ == "__main__":
    main()
