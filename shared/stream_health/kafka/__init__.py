"""Kafka adapters shared by the services: topic provisioning and probes."""
