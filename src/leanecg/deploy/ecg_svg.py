"""Moved to :mod:`leanecg.evaluate.ecg_svg` (the bench report draws strips too); this import path keeps
working."""

from __future__ import annotations

from leanecg.evaluate.ecg_svg import CLASS_COLOURS, OTHER_COLOUR, PX_PER_MM, class_colour, ecg_strip_svg

__all__ = ["CLASS_COLOURS", "OTHER_COLOUR", "PX_PER_MM", "class_colour", "ecg_strip_svg"]
