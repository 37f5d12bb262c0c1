"""Agreement metrics between two annotation rounds: pure functions over vlforge records.

One module per kind of annotation:

- ``iou``: boxes, matched one-to-one per label (Hungarian) and scored by IoU.
- ``ocr``: transcriptions, character-level accuracy ``1 - CER`` over paired lines.
- ``actions``: GUI actions, the share that could be executed (and agree with the other round).
- ``bertscore``: captions and answers, BERTScore P/R/F1 with the MiniLM shipped on PyPI.

The first three import only numpy, scipy and rapidfuzz; ``bertscore`` imports
torch and transformers, so it is imported only where text is scored. Nothing
here reads files, logs or knows about Airflow: the quality stage
(``vlforge.quality.agreement``) calls these and stores the numbers on the sample.
"""
