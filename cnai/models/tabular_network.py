"""The tabular network itself (PyTorch), shared by the estimator and the training ranks."""

from __future__ import annotations

import torch


class TabularNetwork(torch.nn.Module):
    """Embeddings for the categorical columns, the numeric ones as they are, then an MLP."""

    def __init__(self, cardinalities: list[int], numeric: int, outputs: int, hidden_units: int, layers: int,
                 dropout: float, embedding_dim: int) -> None:
        super().__init__()
        self.embeddings = torch.nn.ModuleList([torch.nn.Embedding(k + 1, min(embedding_dim, k + 1)) for k in cardinalities])
        width = sum(min(embedding_dim, k + 1) for k in cardinalities) + numeric
        blocks: list[torch.nn.Module] = []
        for _ in range(layers):
            blocks += [torch.nn.Linear(width, hidden_units), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = hidden_units
        blocks.append(torch.nn.Linear(width, outputs))
        self.mlp = torch.nn.Sequential(*blocks)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        parts = [numeric]
        for index, embedding in enumerate(self.embeddings):
            parts.append(embedding(categorical[:, index]))
        return self.mlp(torch.cat(parts, dim=1))
