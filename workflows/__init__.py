"""Deterministic workflow code: InitiativeWorkflow, RolloutWorkflow and pure gate logic."""
