"""Closed-loop evaluation of a published release: data-side (alignment, OCR readability) and model-side scores.

Evaluation reads a release folder and writes its results to the catalog; it never changes the release.
"""
