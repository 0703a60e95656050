"""A sha256 of the real tokens a capture saw, kept off the forward's critical path.

The digest is over the real tokens' ids as little-endian int64 bytes, in the order the forwards
saw them (``CaptureResult.eval_hash``): two captures with the same hash measured the same tokens.
On CPU the ids are hashed at once (a few microseconds per forward). On CUDA they are copied to
pinned host memory without blocking and hashed at the start of the next forward or when the
digest is read, by which time the copy has long finished, so the forward never waits for it.
"""

from __future__ import annotations

import hashlib

import torch


class TokenHash:
    """Running sha256 of token ids; ``hexdigest()`` is None once a forward had no ids."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.complete = True
        self._pending: tuple[torch.Tensor, torch.cuda.Event] | None = None

    def add(self, input_ids: torch.Tensor | None, rows: torch.Tensor | None) -> None:
        """Add the ids of one forward: ``input_ids`` (B, T) or (T,), ``rows`` (n,) the real
        positions in the flattened batch (None: all of them)."""
        self._flush()
        if input_ids is None:
            self.complete = False
            return
        ids = input_ids.detach().reshape(-1)  # (B*T,)
        if rows is not None:
            ids = ids.index_select(0, rows)  # (n,)
        ids = ids.to(torch.int64)
        if ids.device.type == "cuda":
            host = torch.empty(ids.shape, dtype=torch.int64, pin_memory=True)
            host.copy_(ids, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
            self._pending = (host, event)
            return
        self._sha.update(ids.cpu().numpy().tobytes())

    def _flush(self) -> None:
        if self._pending is not None:
            host, event = self._pending
            self._pending = None
            event.synchronize()
            self._sha.update(host.numpy().tobytes())

    def hexdigest(self) -> str | None:
        self._flush()
        return self._sha.hexdigest() if self.complete else None
