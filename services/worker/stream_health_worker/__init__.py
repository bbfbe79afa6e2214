"""The stream-health worker: consumes the input topics and keeps PostgreSQL current."""
