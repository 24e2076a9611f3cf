"""Reading and writing the pipeline's data: artifacts, the registry, datasets, decoding, the demo."""
