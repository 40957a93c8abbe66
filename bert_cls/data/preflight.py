"""A run's data files checked before TensorFlow is imported.

TensorFlow's import takes seconds (tens on a busy machine), and training imports it before it reads its data. This
reads what is cheap first, with the same readers and column parsing the run uses: every named file and glob
exists, its format is known, it has the named columns, and its first row parses (text, second text, label). A
problem deeper in a file is still found by the run's counting pass. Downloads (``--data nsmc``) are left to the run.
"""

from __future__ import annotations

import itertools

from bert_cls.data import files, readers
from bert_cls.data.columns import Columns


def check_data_files(config) -> None:
    """Raises ``BertClsError`` for the first problem in ``config``'s training, validation and test files."""
    if config.data == "nsmc" and not (config.train_file and config.test_file):
        return  # resolving would download NSMC: the run does that, with its progress and its errors
    train_file, test_file, _ = files.resolve_data_files(config.data, config.train_file, config.test_file)
    columns = Columns.of(config)
    for spec in (train_file, getattr(config, "validation_file", None), test_file):
        if spec is None:
            continue
        for path in readers.expand_paths(spec):
            for _ in itertools.islice(files.iter_labelled([path], columns), 1):
                pass
