"""VIDA: vision-informed deep audio feature generation for action recognition.

`vida_core` holds the pipeline's logic with no DVC or CLI in it: stages in `stages/` read
their params, call functions here, and write artifacts. This file holds no code (a test keeps
it so), so it is no stage's dependency; what every stage shares is `vida_core/shared`.
"""
