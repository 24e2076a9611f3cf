"""Reading the pipeline's data: datasets, decoding, the demo and its AudioSet stand-in."""
