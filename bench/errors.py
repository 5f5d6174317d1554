class HarnessError(Exception):
    """The harness itself broke (a process failed to start, wrk missing, a scenario mostly errors)."""
