"""Benchmark harness for todo-api: `uv run python -m bench --help`."""
