"""Reading TSV, CSV, JSON Lines and Parquet (gzip, globs, several files), string labels, and every bad input."""

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bert_cls.data.files import read_dataset
from bert_cls.errors import BertClsError

NSMC = Path(__file__).resolve().parents[2] / "shared" / "nsmc" / "ratings_train.txt"

ROWS = [('a, "quoted" text,\nover two lines', "spam"), ("plain", "ham"), ("tab\there", "spam"), ("  ", "ham")]


def write_csv(path, rows, delimiter=",", header=("id", "document", "label")):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))
    return path


def write_jsonl(path, rows):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for i, (text, label) in enumerate(rows):
            handle.write(json.dumps({"id": i, "document": text, "label": label}, ensure_ascii=False) + "\n")
    return path


def write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"document": [t for t, _ in rows], "label": [lab for _, lab in rows]}), path)
    return path


EXPECTED_TEXTS = ['a, "quoted" text,\nover two lines', "plain", "tab\there"]


@pytest.mark.parametrize(
    "name, writer",
    [
        ("d.csv", write_csv),
        ("d.csv.gz", write_csv),
        ("d.jsonl", write_jsonl),
        ("d.jsonl.gz", write_jsonl),
        ("d.parquet", write_parquet),
    ],
)
def test_each_format_with_quotes_newlines_and_string_labels(tmp_path, name, writer):
    ds = read_dataset(writer(tmp_path / name, ROWS))
    assert ds.texts == EXPECTED_TEXTS
    assert ds.label_names == ("ham", "spam")  # sorted, as transformers' label2id
    assert ds.labels.tolist() == [1, 0, 1]
    assert ds.dropped_empty == 1


def test_quoted_tsv_and_format_override(tmp_path):
    path = write_csv(tmp_path / "export.data", ROWS, delimiter="\t")
    ds = read_dataset(path, format="tsv", quoting="rfc4180")
    assert ds.texts == EXPECTED_TEXTS
    with pytest.raises(BertClsError, match="cannot tell the format from the extension .data"):
        read_dataset(path)


def test_label_names_fix_the_order_and_reject_other_labels(tmp_path):
    path = write_csv(tmp_path / "d.csv", ROWS)
    ds = read_dataset(path, label_names=["spam", "ham"])
    assert ds.labels.tolist() == [0, 1, 0]
    # row 0 spans lines 2-3 (a quoted newline), so "plain" (ham) starts on line 4
    with pytest.raises(BertClsError, match=r"d\.csv:4: label 'ham' is not one of the training data's classes \(spam, other\)"):
        read_dataset(path, label_names=["spam", "other"], strict_label_names=True)


def test_glob_and_several_files(tmp_path):
    write_csv(tmp_path / "train-1.csv", ROWS[:2])
    write_jsonl(tmp_path / "train-2.jsonl", ROWS[2:])
    ds = read_dataset(str(tmp_path / "train-*"))
    assert ds.texts == EXPECTED_TEXTS
    listed = read_dataset(f"{tmp_path / 'train-2.jsonl'},{tmp_path / 'train-1.csv'}")
    assert listed.texts == ["tab\there", 'a, "quoted" text,\nover two lines', "plain"]


def test_nsmc_style_tsv_keeps_bare_quotes(tmp_path, write_tsv):
    path = write_tsv(tmp_path / "n.tsv", [('"영화" 최고', 1), ('그냥 "별로"', 0), ('따옴표 " 하나', 1)])
    ds = read_dataset(path)
    assert ds.texts == ['"영화" 최고', '그냥 "별로"', '따옴표 " 하나'] and ds.labels.tolist() == [1, 0, 1]


@pytest.mark.skipif(not NSMC.is_file(), reason="../shared/nsmc/ratings_train.txt is not on this machine")
def test_all_150000_nsmc_rows_read_as_the_tab_split_loader_did():
    """The loader before this reader split each line on tabs and stripped the text: same texts and labels."""
    lines = NSMC.read_text(encoding="utf-8").splitlines()[1:]
    fields = [line.split("\t") for line in lines]
    ds = read_dataset(NSMC)
    assert len(ds) == 150_000
    assert ds.texts == [f[1].strip() for f in fields]
    np.testing.assert_array_equal(ds.labels, [int(f[2]) for f in fields])


def _write(path, content, mode="w"):
    if mode == "wb":
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "name, content, message",
    [
        # one field too many: the row of issue 8, never read as "score is" with label 1
        ("d.tsv", "id\tdocument\tlabel\n1\tok\t0\n3\tscore is\t1\t0\n", r"d\.tsv:3: 4 fields where the header has 3"),
        ("d.csv", "id,document,label\n1,ok,0\n2,a, b,1\n", r"d\.csv:3: 4 fields where the header has 3"),
        ("d.csv", 'id,document,label\n1,ok,0\n2,"never closed,1\n3,x,0\n', r"d\.csv:3: malformed CSV record"),
        ("d.jsonl", '{"document": "ok", "label": 0}\n{"document": "broken", \n', r"d\.jsonl:2: not a JSON object"),
        ("d.jsonl", '{"document": "ok", "label": 0}\n{"text": "x", "label": 1}\n', r"d\.jsonl:2: no key 'document'"),
        (
            "d.csv",
            "id,document,label\n1,a,0\n2,b,spam\n",
            r"mixes integer and string labels \(.*d\.csv:2 has '0', .*d\.csv:3 has 'spam'\)",
        ),
        ("d.csv", "id,document,label\n1,a,0\n2,b,\n", r"d\.csv:3: an empty label"),
        ("d.tsv", "id\ttext\tlabel\n1\tx\t0\n", r"has no column 'document'; its columns are \['id', 'text', 'label'\]"),
        ("d.tsv", "", "is empty"),
        ("d.tsv", "id\tdocument\tlabel\n1\tx\t-1\n", "negative label"),
        ("d.xlsx", "whatever", r"cannot tell the format from the extension \.xlsx"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, name, content, message):
    with pytest.raises(BertClsError, match=message):
        read_dataset(_write(tmp_path / name, content))


def test_parquet_without_the_columns_lists_what_it_has(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"], "target": [1]}), tmp_path / "d.parquet")
    with pytest.raises(BertClsError, match=r"no column 'document', 'label'; its columns are \['body', 'target'\]"):
        read_dataset(tmp_path / "d.parquet")
    _write(tmp_path / "fake.parquet", "not parquet")
    with pytest.raises(BertClsError, match="is not a Parquet file"):
        read_dataset(tmp_path / "fake.parquet")


def test_gzip_that_is_not_gzip_missing_files_and_empty_globs(tmp_path):
    _write(tmp_path / "d.csv.gz", "id,document,label\n1,a,0\n")
    with pytest.raises(BertClsError, match="ends in .gz but is not gzip data"):
        read_dataset(tmp_path / "d.csv.gz")
    with pytest.raises(BertClsError, match="data file not found"):
        read_dataset(tmp_path / "missing.csv")
    with pytest.raises(BertClsError, match="matches no file"):
        read_dataset(str(tmp_path / "none-*.parquet"))


def test_not_utf8_names_the_byte_offset_and_iconv(tmp_path):
    content = "id\tdocument\tlabel\n1\t좋다\t1\n".encode("utf-8") + "2\t나쁘다\t0\n".encode("cp949")
    _write(tmp_path / "d.tsv", content, "wb")
    offset = content.index("나쁘다".encode("cp949"))
    with pytest.raises(BertClsError, match=rf"is not UTF-8 text \(byte {offset}\).*iconv -f CP949"):
        read_dataset(tmp_path / "d.tsv")


@pytest.mark.parametrize("name, writer", [("d.csv", write_csv), ("d.csv.gz", write_csv), ("d.jsonl", write_jsonl)])
def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path, name, writer):
    """Excel's "CSV UTF-8" starts with a byte-order mark; the first column is still 'id', the rows unchanged."""
    path = writer(tmp_path / name, ROWS)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as handle:
        content = handle.read()
    with opener(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + content)
    ds = read_dataset(path)
    assert ds.texts == EXPECTED_TEXTS and ds.labels.tolist() == [1, 0, 1]


def test_a_byte_order_mark_is_not_part_of_the_first_text_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("\ufeffdocument,label\n좋다,pos\n나쁘다,neg\n".encode("utf-8"))
    assert read_dataset(path).texts == ["좋다", "나쁘다"]
