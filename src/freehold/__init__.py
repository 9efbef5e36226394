"""freehold: a local open-weights inference server with an OpenAI-compatible API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
