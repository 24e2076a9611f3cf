"""What every stage shares, one dependency of each in dvc.yaml: the clip contract below, the
typed params (`config`), the stage helper (`stage`), the device, the artifact format (`artifacts`)
and the artifact registry (`registry`). Changing anything here reruns every stage."""

# The audio-visual contract of the pipeline (ARCHITECTURE.md, "The data contract"), kept in one place.
NUM_FRAMES = 18          # frames per clip
FPS = 6                  # sampling rate of those frames
CLIP_SECONDS = 3.0       # NUM_FRAMES / FPS
SAMPLE_RATE = 16_000     # audio sample rate of waveforms and log-mels
NUM_MEL_BINS = 128       # AST's filterbank size
NUM_AUDIOSET_LABELS = 527
