"""The local model store, the catalog of short aliases, and GGUF metadata."""
