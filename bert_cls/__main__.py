"""``python -m bert_cls`` is ``bert-cls``."""

import sys

from bert_cls.cli import main

sys.exit(main())
