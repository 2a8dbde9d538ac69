"""Side effects: event recording, assessment, ticketing and provisioning."""
