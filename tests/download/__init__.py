"""Tests of the downloader and the model store.

A package, so that its conftest does not shadow tests/conftest.py as `conftest`.
"""
