"""Rows of a Hugging Face dataset split: from the hub, or from files a user pre-downloaded.

``load_rows(hub_id, config, split, data_dir)`` returns the split as a list of dicts with the
hub's own schema. With ``data_dir`` nothing is downloaded; the directory holds either

- one file per split: ``<split>.jsonl``, ``<split>.json`` (a list or JSON lines) or
  ``<split>.parquet`` (e.g. written by ``Dataset.to_json`` / ``to_parquet``), or
- a ``DatasetDict`` saved with ``save_to_disk`` (``dataset_dict.json`` at the top).

Without ``data_dir`` the split comes from ``datasets.load_dataset(hub_id, config,
split=split)``, which uses the local Hugging Face cache when offline
(``HF_DATASETS_OFFLINE=1``). Failures are one-line :class:`~miub.errors.MiubUserError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from miub.errors import MiubUserError

Row = dict[str, Any]


def load_rows(hub_id: str, config: str | None, split: str, data_dir: str | None) -> list[Row]:
    """All rows of ``split`` of ``hub_id`` (``config``), in the dataset's order."""
    if data_dir is not None:
        return _load_local(Path(data_dir), split, hub_id)
    try:
        import datasets

        dataset = datasets.load_dataset(hub_id, config, split=split)
    except Exception as error:  # network, missing cache, hub errors: all mean "not here"
        raise MiubUserError(
            f"dataset {hub_id} ({config or 'default'}, {split}) not available offline; "
            f"pre-download it and pass data_dir=... ({type(error).__name__})"
        ) from None
    return [dict(row) for row in dataset]


def _load_local(directory: Path, split: str, hub_id: str) -> list[Row]:
    if (directory / "dataset_dict.json").is_file():
        import datasets

        saved = datasets.load_from_disk(str(directory))
        if split not in saved:
            raise MiubUserError(f"{directory}: saved dataset has no split {split!r}")
        return [dict(row) for row in saved[split]]
    for suffix in (".jsonl", ".json", ".parquet"):
        path = directory / f"{split}{suffix}"
        if path.is_file():
            return read_file(path)
    raise MiubUserError(
        f"{directory}: no {split}.jsonl, {split}.json or {split}.parquet for {hub_id}; "
        "write each split there (e.g. Dataset.to_json) or save_to_disk the DatasetDict"
    )


def read_file(path: Path) -> list[Row]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows: list[Row] = pq.read_table(path).to_pylist()
        return rows
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("["):
            loaded: list[Row] = json.loads(text)
            return loaded
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise MiubUserError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
