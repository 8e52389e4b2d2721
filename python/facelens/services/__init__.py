"""The services behind the client: the logic of each group of operations, over storage and the engine."""
