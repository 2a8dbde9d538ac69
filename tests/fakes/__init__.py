"""Local HTTP servers that speak the real API contracts of the systems liftoff integrates with."""
