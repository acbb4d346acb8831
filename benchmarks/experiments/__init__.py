"""One-off experiments: each answered a question that is now decided, and its finding is recorded
in ``docs/journal/`` (``docs/journal/README.md`` names the file). They stay so that a finding can
be reproduced; run each from the repository root as ``python -m benchmarks.experiments.NAME``."""
