"""Quantize stages: GGUF through llama.cpp's own quantizer, each gated on fidelity."""

from __future__ import annotations
