"""Wire schemas: what the worker accepts from Kafka, validated at the edge."""
