-- Initiatives whose workflow was terminated, cancelled or reset outside liftoff: few rows, read by the funnel.
CREATE INDEX lifecycle_events_tampered ON lifecycle_events (initiative_id) WHERE kind = 'tampered';
