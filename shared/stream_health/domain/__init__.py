"""The pure domain: reconnect windows, classification and state changes.

Nothing here imports an adapter, reads the clock or the environment: time is a parameter.
"""
