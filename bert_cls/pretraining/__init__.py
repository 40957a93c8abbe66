"""``bert-cls pretrain``: a WordPiece vocabulary and masked-LM pretraining from your own text.

* ``config``: ``PretrainConfig``, the command's flags (light: no TensorFlow).
* ``corpus``: the texts of data files, streamed, with a held-out share and texts to leave out.
* ``vocabulary``: WordPiece trained with the ``tokenizers`` library, written as ``vocab.txt``.
* ``masking``: BERT's masking (15%, 80/10/10, whole words optionally) as TensorFlow ops.
* ``run``: the model, the training loop, commits that make resuming exact, the checkpoint directory.
"""
