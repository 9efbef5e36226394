"""``freehold run``: a terminal chat with a model, on the local engine or a running server."""
