"""Where the shipped weights come from: the glyph source family (``glyphs``), the recipe that
pretrains the embedded backbone on it (``pretrain``), and ``weights/`` with the checkpoints,
their sha256 files and model cards.

``glyphs`` is the bottom layer (it imports nothing from ftkit; the core's ``data`` draws its
near and shift targets from it). ``pretrain`` sits above the core and uses it.
"""
