"""Prompt rendering, reasoning, tool-call parsing."""
