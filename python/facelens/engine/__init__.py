"""One module per model-backed capability; each receives ready sessions from models.registry."""
