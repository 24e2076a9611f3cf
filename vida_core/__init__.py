"""VIDA: vision-informed deep audio feature generation for action recognition.

`vida_core` holds the pipeline's logic with no DVC or CLI in it: stages in `stages/` read
their params, call functions here, and write artifacts.
"""

__version__ = "0.1.0"

# The audio-visual contract of the pipeline (ARCHITECTURE.md, "The data contract"), kept in one place.
NUM_FRAMES = 18          # frames per clip
FPS = 6                  # sampling rate of those frames
CLIP_SECONDS = 3.0       # NUM_FRAMES / FPS
SAMPLE_RATE = 16_000     # audio sample rate of waveforms and log-mels
NUM_MEL_BINS = 128       # AST's filterbank size
NUM_AUDIOSET_LABELS = 527
