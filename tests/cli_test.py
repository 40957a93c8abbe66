import json
import subprocess
import sys

import pytest

from bert_cls.cli import build_parser, main
from bert_cls.errors import BertClsError

COMMANDS = ["train", "pretrain", "evaluate", "predict", "quickstart", "export", "serve", "query", "tune", "bench"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: bert-cls " + command in capsys.readouterr().out


def test_train_help_lists_the_documented_flags(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--train-file",
        "--test-file",
        "--data",
        "--pretrained",
        "--output-dir",
        "--epochs",
        "--batch-size",
        "--max-length",
        "--learning-rate",
        "--dropout",
        "--validation-split",
        "--max-train-samples",
        "--seed",
    ):
        assert flag in text


def _model(directory) -> str:
    """A directory that passes the light --model check (a bert-cls model's config file), for errors past it."""
    path = directory / "model"
    path.mkdir(exist_ok=True)
    (path / "classifier_config.json").write_text("{}")
    return str(path)


@pytest.mark.parametrize(
    "make_args, message",
    [
        (
            lambda p, c, write_tsv: ["train", "--train-file", str(p / "missing.tsv"), "--output-dir", str(p / "o")],
            "data file not found",
        ),
        (
            lambda p, c, write_tsv: [
                "train",
                "--train-file",
                str(write_tsv(p / "x.tsv", [("a", 0), ("b", "pos")])),
                "--output-dir",
                str(p / "o"),
            ],
            "mixes integer and string labels",
        ),
        (lambda p, c, write_tsv: ["train", "--output-dir", str(p / "o")], "no training data"),
        (
            lambda p, c, write_tsv: [
                "train",
                "--data",
                "sample",
                "--pretrained",
                str(c),
                "--max-length",
                "1000",
                "--output-dir",
                str(p / "o"),
            ],
            "--max-length 1000 is outside 3..64",
        ),
        (
            lambda p, c, write_tsv: ["evaluate", "--model", str(p), "--test-file", str(p / "t.tsv")],
            "not a trained bert-cls model",
        ),
        (lambda p, c, write_tsv: ["predict", "--model", _model(p)], "no texts"),
        (lambda p, c, write_tsv: ["serve", "--model-base-path", str(p / "none")], "is not a directory"),
        (
            lambda p, c, write_tsv: ["quickstart", "--output-dir", str(write_tsv(p / "x.tsv", [("a", 0)]).parent)],
            "already holds a quickstart",
        ),
        (lambda p, c, write_tsv: ["bench", "--output", str(write_tsv(p / "x.tsv", [("a", 0)]))], "exists: pass --overwrite"),
        # a shared flag validates its value once, the same way in every command
        (
            lambda p, c, write_tsv: ["evaluate", "--model", _model(p), "--test-file", "t.tsv", "--batch-size", "0"],
            "--batch-size must be at least 1, got 0",
        ),
        (
            lambda p, c, write_tsv: ["predict", "--model", _model(p), "--batch-size", "0", "x"],
            "--batch-size must be at least 1, got 0",
        ),
        (lambda p, c, write_tsv: ["query", "--batch-size", "0", "x"], "--batch-size must be at least 1, got 0"),
        (
            lambda p, c, write_tsv: ["train", "--data", "sample", "--output-dir", str(p / "o"), "--epochs", "0"],
            "--epochs must be at least 1, got 0",
        ),
        (
            lambda p, c, write_tsv: ["export", "--model", _model(p), "--export-dir", str(p / "e"), "--version", "0"],
            "--version must be at least 1, got 0",
        ),
        (lambda p, c, write_tsv: ["tune", "--data", "sample", "--max-trials", "0"], "--max-trials must be at least 1, got 0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_checkpoint, write_tsv, capsys, make_args, message):
    assert main(make_args(tmp_path, tiny_checkpoint, write_tsv)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_no_traceback_from_the_console_script(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bert_cls",
            "train",
            "--train-file",
            str(tmp_path / "nope.tsv"),
            "--output-dir",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    # Only the error: no traceback, and none of TensorFlow's C++ start-up lines (train loads TensorFlow
    # before it reads the file), which `bert-cls -v` would show.
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: data file not found"), proc.stderr


@pytest.mark.slow
def test_minilm_end_to_end_train_evaluate_predict_export(tmp_path, write_tsv, capsys):
    """The real MiniLM checkpoint on 100 bundled reviews, through the CLI."""
    out = tmp_path / "run"
    test_file = write_tsv(tmp_path / "t.tsv", [("정말 최고의 영화", 1), ("최악이다", 0), ("", 1)])
    assert (
        main(
            [
                "train",
                "--data",
                "sample",
                "--pretrained",
                "all-MiniLM-L6-v2",
                "--output-dir",
                str(out),
                "--max-train-samples",
                "100",
                "--epochs",
                "1",
                "--max-length",
                "32",
                "--test-file",
                str(test_file),
                # float32: the CPU's precision timing of MiniLM is tested with mocked timings (train_test)
                "--mixed-precision",
                "no",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.splitlines()[0])
    assert 0.0 <= summary["validation_accuracy"] <= 1.0 and summary["examples_per_second"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_examples"] == 90 and metrics["validation_examples"] == 10
    assert metrics["test"]["num_examples"] == 2  # the empty review is dropped

    assert main(["evaluate", "--model", str(out), "--test-file", str(test_file)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("accuracy ") for line in printed)
    report = json.loads((out / "eval_t.json").read_text())
    assert report["num_examples"] == 2 and report["dropped_empty_documents"] == 1
    assert (out / "eval_t_confusion.png").stat().st_size > 1000

    # Texts as arguments and from a data file's column, in one call (arguments first)
    csv_file = tmp_path / "texts.csv"
    csv_file.write_text('id,body\n1,"재밌다, 정말"\n2,지루하다\n', encoding="utf-8")
    argv = ["predict", "--model", str(out), "--json", "재밌다", "지루하다", "--file", str(csv_file), "--text-column", "body"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["재밌다", "지루하다", "재밌다, 정말", "지루하다"]
    assert all(r["label"] in ("negative", "positive") and abs(sum(r["probabilities"]) - 1) < 1e-4 for r in rows)

    assert main(["export", "--model", str(out), "--export-dir", str(tmp_path / "export")]) == 0
    printed = capsys.readouterr().out
    assert "max |diff|" in printed
    assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()
    # The run kept its validation texts; --precision auto says what it chose and, where it tried bfloat16, how
    # bfloat16 compared on them.
    kept = [json.loads(line) for line in (out / "precision_check.jsonl").read_text(encoding="utf-8").splitlines()]
    assert kept and all(set(row) == {"text"} for row in kept)
    metadata = json.loads((tmp_path / "export" / "1" / "assets.extra" / "bert_cls_export.json").read_text())
    choice = metadata["precision"]
    assert f"precision: {choice['precision']} (" in printed and choice["requested"] == "auto"
    assert choice["texts_checked"] in (0, len(kept))


def test_predict_file_reads_a_data_files_text_column_and_txt_line_by_line(tmp_path):
    from bert_cls.cli.commands import read_texts

    (tmp_path / "t.csv").write_text('id,body\n1,"a, b"\n2,\n', encoding="utf-8")
    (tmp_path / "t.jsonl").write_text('{"body": "x"}\n{"body": "y"}\n', encoding="utf-8")
    (tmp_path / "t.txt").write_text("id\tdocument\tlabel\nline two\n", encoding="utf-8")
    assert read_texts(["arg"], str(tmp_path / "t.csv"), text_column="body") == ["arg", "a, b", ""]
    assert read_texts([], str(tmp_path / "t.jsonl"), text_column="body") == ["x", "y"]
    assert read_texts([], str(tmp_path / "t.txt")) == ["id\tdocument\tlabel", "line two"]
    with pytest.raises(BertClsError, match="no column 'document'"):
        read_texts([], str(tmp_path / "t.csv"))


def test_one_version_string_for_setup_the_package_and_the_cli(capsys):
    import re
    from pathlib import Path

    import bert_cls
    from bert_cls.cli import main

    setup_text = (Path(__file__).parents[1] / "setup.py").read_text()
    assert "version=VERSION" in setup_text and not re.search(r'version="\d', setup_text)
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"bert-cls {bert_cls.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", bert_cls.__version__)
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text()
    assert f"## [{bert_cls.__version__}]" in changelog


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "data file not found"),
        ("id\tdocument\n1\tx\n", "has no column 'label'"),
        ("id\tdocument\tlabel\n1\tx\n", "2 fields where the header has 3"),
    ],
)
def test_bad_training_data_fails_before_tensorflow_is_imported(tmp_path, content, message):
    """Files, columns and the first row are checked before TensorFlow's import (seconds on a busy machine)."""
    data = tmp_path / "train.tsv"
    if content is not None:
        data.write_text(content, encoding="utf-8")
    err = _refused_without_tensorflow(["train", "--train-file", str(data), "--output-dir", str(tmp_path / "o")])
    assert message in err and not (tmp_path / "o").exists()


def _refused_without_tensorflow(argv) -> str:
    """Runs ``bert-cls ARGV`` in a fresh interpreter: exit 2, and TensorFlow/transformers never imported."""
    probe = (
        "import sys; from bert_cls.cli import main; "
        f"code = main({argv!r}); "
        "print(code, any(m.split('.')[0] in ('tensorflow', 'transformers') for m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr
    err = result.stderr.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def test_mistakes_that_need_no_tensorflow_are_refused_before_it_loads(tmp_path, tiny_tsv):
    afile = tmp_path / "afile"
    afile.write_text("x")
    model = tmp_path / "model"
    model.mkdir()
    (model / "classifier_config.json").write_text("{}")
    cases = [
        (["predict", "--model", str(tmp_path / "nope"), "good"], "nope does not exist"),
        (["predict", "--model", str(afile), "good"], "afile is not a trained bert-cls model"),
        (["evaluate", "--model", str(tmp_path), "--test-file", str(tiny_tsv[1])], "no classifier_config.json"),
        (["evaluate", "--model", str(model), "--test-file", str(tmp_path / "missing.tsv")], "data file not found"),
        (["export", "--model", str(model), "--export-dir", str(afile)], "afile is a file: pass a directory"),
        (["serve", "--model-base-path", str(tmp_path / "nope")], "nope is not a directory"),
    ]
    for argv, message in cases:
        assert message in _refused_without_tensorflow(argv)


def test_a_flag_typo_shows_the_sub_commands_usage_and_the_closest_flag(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--train-file", "x.tsv", "--output-dir", "o", "--lable-column", "y"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "usage: bert-cls train" in err
    assert "unrecognized argument --lable-column: did you mean --label-column?" in err
