"""underwrite: a reproducible, fairness-aware mortgage-approval model."""
