"""The stream-health HTTP api: serves the views and receives orchestrator callbacks."""
