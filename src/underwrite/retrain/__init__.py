"""Closing the loop: labelled production data -> a new data version -> a retraining pull request.

- ``loop``: drift check, join the labels to logged applications, append them to the data
  source (``dvc add``), ``dvc repro``, and the report.
- ``github``: the few GitHub REST calls that open or update the retraining pull request.
- ``commands``: ``underwrite retrain loop`` and ``underwrite retrain pr``.
"""


class RetrainError(ValueError):
    """The loop cannot go on; the message names the input and the fix."""
