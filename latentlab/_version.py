"""The one place the version is written: pyproject.toml reads it (``[tool.setuptools.dynamic]``),
``latentlab.__version__`` and ``latentlab --version`` print it. Kept free of imports so that both
setuptools (which parses it without importing latentlab) and the command line read it cheaply."""

__version__ = "0.1.0"
