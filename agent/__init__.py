"""Annexa: continuous evidence for ISO/IEC 27001:2022 Annex A controls."""

__version__ = "0.1.0"
