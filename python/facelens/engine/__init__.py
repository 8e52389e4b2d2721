"""One module per model-backed capability. Their onnxruntime sessions come from ``models.registry``: the detector,
the mesh and the embedder are given theirs by ``pipeline.py``; the attribute networks and the person detector
ask the registry for theirs by model name (the person detector also takes one given)."""
