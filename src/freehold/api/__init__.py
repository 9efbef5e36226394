"""The OpenAI-compatible HTTP API: app factory, wire schemas, translation, errors, routes."""

from freehold.api.app import create_app

__all__ = ["create_app"]
