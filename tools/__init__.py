"""Tools that make the model files and fit the constants; each is a script (``python tools/NAME.py``).
``labelled`` is also imported by the tests and benches as ``tools.labelled``."""
