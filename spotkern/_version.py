"""The package version, the single source (``pyproject.toml`` reads it statically)."""
__version__ = "0.1.0"
