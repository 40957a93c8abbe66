"""The documentation stays true: every ``bert-cls`` command line in it parses with the real argument parser and
builds its configs, every Python block compiles, every relative link leads to a file (and heading), the README's
test command is the one CI runs, the pages speak to users (no work history, no first person), and the README's
first command, the offline quickstart, runs end to end."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md",
                ROOT / "bert_cls" / "resources" / "nsmc-small" / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def blocks(page: Path, language: str) -> list:
    return [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8")) if lang == language]


def command_lines(body: str) -> list:
    """The shell commands of a block, continuation lines joined, each ``&&`` part on its own."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while "&&" in words:
            at = words.index("&&")
            commands.append(words[:at])
            words = words[at + 1:]
        if words:
            commands.append(words)
    return commands


def bert_cls_commands(page: Path) -> list:
    found = []
    for body in blocks(page, "bash"):
        for words in command_lines(body):
            if words and Path(words[0]).name == "bert-cls":
                found.append(words[1:])
    return found


def test_the_pages_hold_commands_and_code_to_check():
    assert len(PAGES) >= 14
    assert sum(len(bert_cls_commands(p)) for p in PAGES) >= 40
    assert sum(len(blocks(p, "python")) for p in PAGES) >= 6


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_bert_cls_command_parses_and_builds_its_configs(page):
    from bert_cls.cli import _configs, build_parser

    parser = build_parser()
    for argv in bert_cls_commands(page):
        if "..." in argv or any("<" in word for word in argv):
            continue  # an elided command ("...") is prose, not a command to run
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page.name}: `bert-cls {shlex.join(argv)}` does not parse")
        if not args.command_spec.name == "query" or args.texts or args.file or args.pair or args.metadata:
            _configs(args.command_spec, args)  # flag values pass the configs' checks


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_python_block_compiles(page):
    for number, body in enumerate(blocks(page, "python")):
        compile(body, f"{page.name} block {number + 1}", "exec")


def _anchors(page: Path) -> set:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_relative_link_leads_somewhere(page):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        assert destination.exists(), f"{page.name}: link {target} leads nowhere"
        if anchor:
            assert anchor in _anchors(destination), f"{page.name}: {target} has no heading #{anchor}"


def test_readme_test_command_is_the_one_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command in readme and ci_command.endswith("python -m pytest -q")
    assert len(readme.splitlines()) < 150


HISTORY = re.compile(r"\bissue \d+|\b(this|last|an earlier|previous) session\b|\bwe\b|\bour\b", re.I)
FIRST_PERSON = re.compile(r"\bI\b(?!/O)|\bI'")


@pytest.mark.parametrize("page", [p for p in PAGES if p.name != "CHANGELOG.md"],
                         ids=_ids([p for p in PAGES if p.name != "CHANGELOG.md"]))
def test_pages_speak_to_users(page):
    text = re.sub(r"`[^`]*`", "", FENCE.sub("", page.read_text(encoding="utf-8")))  # prose only, not code
    found = sorted({m.group(0) for pattern in (HISTORY, FIRST_PERSON) for m in pattern.finditer(text)})
    assert not found, f"{page.name}: {found}"


@pytest.mark.slow
def test_the_offline_quickstart_runs_end_to_end(tmp_path, capsys):
    """The README's first command after installing: fine-tune nsmc-small, evaluate, export, serve, query."""
    from bert_cls.cli import main

    assert main(["quickstart", "--output-dir", str(tmp_path / "quickstart")]) == 0
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy[^0-9]*([0-9.]+)", out).group(1))
    assert accuracy > 0.7, out  # nsmc-small reads Korean: far above chance
    assert "REST answers equal the gRPC ones" in out and "curl" in out
