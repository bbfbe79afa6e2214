"""stream-health: the code shared by the worker and the api (domain, config, db, kafka)."""
