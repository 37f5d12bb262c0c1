"""Synthesis: new training samples made from real ones or rendered, each with exact answers and a replayable lineage.

``compose/`` builds multi-turn, multi-task and multi-image samples from the train split. The rest
renders new data in a real browser, ground truth exact by construction: ``documents/`` fills HTML
templates (receipts, invoices, forms, tables, articles, signs) and reads word and line boxes back
from Chromium's DOM; ``gui/`` renders phone and desktop screens and records verified grounding
targets, actions and trajectories; ``degrade`` roughens pages with the augment ops; ``stage`` plans
and runs the shards; ``gate`` is the synth gate.
"""
