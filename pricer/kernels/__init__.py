"""Fused GPU kernels behind ``MonteCarlo(backend="kernel")``, with the same numbers as the scan backend."""
from .fused import kernel_total, program_moments

__all__ = ["kernel_total", "program_moments"]
