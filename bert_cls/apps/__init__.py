"""Apps across the stages: ``quickstart`` (the whole path offline) and ``bench`` (measured speed); ``config`` is light."""
