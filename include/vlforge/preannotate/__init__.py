"""Machine pre-annotation: Tesseract OCR lines and Qwen-VL captions and boxes as Label Studio predictions.

``tasks.run_preannotate(images_dir, out_file, config)`` is the whole stage in one call; the DAG
``vlforge_preannotate`` runs the same steps shard by shard. torch and transformers load only
when a VLM is configured.
"""
