"""The `stream-health` command line."""
