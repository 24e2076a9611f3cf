"""The three small networks of the paper: two LSTM generators and an LSTM action classifier."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Standardize(nn.Module):
    """(x - mean) / std with train statistics, stored in the checkpoint with the model."""

    def __init__(self, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std + self.mean


class SequenceRegressor(nn.Module):
    """[B, T, in_dim] -> [B, T, out_dim]: the SVDMap and CAFMap generators (paper: 2 x 512 LSTM)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 512, layers: int = 2, dropout: float = 0.3):
        super().__init__()
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True,
                            dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


class SequenceClassifier(nn.Module):
    """[B, T, in_dim] -> class logits [B, C]: an LSTM whose outputs are averaged over time.

    Averaging all steps (rather than reading the last state) lets every 1/6 s of the clip,
    including a short sound early on, reach the decision directly.
    """

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.lstm(self.dropout(x))[0].mean(1)))
