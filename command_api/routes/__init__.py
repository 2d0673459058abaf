"""Thin HTTP entrypoints: parse, authenticate, call a use case, render."""
