"""Extra scorers: a base protocol and its implementations."""
