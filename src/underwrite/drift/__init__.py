"""Drift monitoring: the inference log against the training split's reference profile.

- ``profile``: the reference profile (stage ``profile`` writes it from the training split).
- ``logreader``: a time window of the inference log (local folder or azure://) as Arrow
  batches, with a Parquet cache so each JSON line is parsed once (``logparse``: the
  parsing, and the messages that name a bad line).
- ``window``: a window summarised in one streaming pass (counts, a bounded sample).
- ``stats``: per-feature tests and effect sizes (scipy), schema and prediction drift.
- ``check``: windows, persistence and the verdict; ``report``: JSON, Markdown and plots.
- ``simulate``: replays held-out applications, optionally shifted, into a log or to a URL.
- ``commands``: ``underwrite drift`` and ``underwrite simulate``.

Submodules are imported explicitly, so a DVC stage depends only on what it imports.
"""
