"""Augmentation: image ops that move every box with the pixels, text kept true to the image, replayable lineage.

``ops/`` holds one op per file in a registry, ``functional.py`` the pure helpers they share,
``text.py`` the conversation rules (left/right after a flip, boxes written in text, turns about
lost objects) and ``pipeline.py`` ``augment_sample`` / ``replay``.
"""
