"""The semantic stages: captions, label bank, caption -> label map, semantic dictionary."""
