"""Speed, memory and accuracy measurements; run from the repository root (``python -m pytest bench/NAME.py``
or ``python -m bench.NAME``)."""
