"""Blob storage for the DVC remote: the local emulator and the doctor that checks a remote.

- emulator.py: the Azurite process on loopback (processes.py: pid, signals, log tail);
- commands.py: the `underwrite azurite` commands, and pointing a DVC remote at Azurite;
- credentials.py: a remote's url and credential, resolved the way dvc-azure and adlfs do;
- errors.py: Azure SDK errors turned into the fix a user needs;
- doctor.py: `underwrite doctor` (also `python -m underwrite.storage.doctor`).

Nothing is imported here, so `underwrite --help` does not load what it does not need.
"""
