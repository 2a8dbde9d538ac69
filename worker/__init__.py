"""Process entry points: CLI, settings, logging, wiring and the embedded dev stack."""
