"""Synthesis: new training samples made from real ones or rendered, each with exact answers and a replayable lineage."""
