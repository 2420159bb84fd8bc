"""Core: job service, state machine, scheduler, workers, pipeline, retry policy."""
