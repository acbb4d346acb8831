"""Benchmark scripts. Run each as a module from the repository root, e.g.
``python -m benchmarks.datagen`` (as scripts, ``benchmarks/datagen.py`` would shadow the
``datagen`` package)."""
