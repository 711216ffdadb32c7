"""Export stages: merge LoRA adapters into GGUF, write GGUF LoRA adapters, prove fidelity.

Heavy libraries (torch, peft, llama_cpp, onnxruntime) load only inside the stage that needs
them; importing this package imports numpy and nothing else heavy.
"""

from __future__ import annotations
