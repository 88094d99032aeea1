"""LeanECG: efficient AI for ECG arrhythmia classification.

Fewer leads, smaller models, fewer labels -- with accuracy and cost measured together.
"""

__version__ = "0.1.0"
