"""A simulated VMS fleet: inventory snapshots and media-server events for the demo and tests."""
