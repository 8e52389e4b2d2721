"""Model files, their manifest, and the registry that loads and verifies them."""
