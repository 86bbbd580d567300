"""Hostile inputs shared by the parser and renderer tests."""
