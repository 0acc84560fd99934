"""torch.library custom ops of bbbcore (``torch.ops.bbbcore.*``), one module per area.

Importing this package registers every op (CPU kernel, CUDA kernel, fake kernel).
"""
from bbbcore.ops import augment, random, transport, twophoton  # noqa: F401

__all__ = ["augment", "random", "transport", "twophoton"]
