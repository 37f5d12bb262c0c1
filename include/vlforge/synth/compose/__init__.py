"""Strategy concatenation: samples composed from curated train samples, with answers exact by construction.

- ``same_image``: QA turns about one image from several samples merged into one conversation
  (``multi_turn``), or a caption, its boxes, QA and OCR lines of one image in one conversation
  (``multi_task``);
- ``multi_image``: 2 to N pictures in one conversation with comparison questions (counts per
  label, presence, which picture shows X, which object takes up more of its picture) answered
  from the annotations, in English and Chinese;
- ``budget``: images and tokens per sample, counted by the target model's own rule;
- ``packing``: same-task samples grouped into sequences up to a token budget.

Every rule follows the op contract: ``draw(sources, rng)`` draws JSON-able parameters and
``compose(sources, params)`` is deterministic, so a composed sample's lineage (rule, sources,
parameters) recreates it exactly.
"""
