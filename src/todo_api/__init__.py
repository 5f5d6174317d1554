"""todo-api: a todo-list REST service."""

__version__ = "0.1.0"
