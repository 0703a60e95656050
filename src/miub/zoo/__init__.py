"""The model zoo: tiny pretrained Llama base models of the built-in world, shipped in the package.

``names()`` lists them smallest first; ``load(name)`` returns ``(model, tokenizer)`` loaded
with ``from_pretrained`` from the shipped safetensors; ``verify()`` checks every file against
the manifest's sha256. ``miub zoo build`` re-creates the assets (see :mod:`miub.runners.zoo_build`).
"""

from __future__ import annotations

from miub.zoo.registry import assets_dir, load, manifest, names, path, verify

__all__ = ["assets_dir", "load", "manifest", "names", "path", "verify"]
