"""Model-side evaluation: a VLM answers the release's own test prompts and is scored per task type.

Entry points (a DAG task calls them; see ``score`` and ``config``):

- ``config.ModelBackendConfig``: a local ``transformers`` folder or an OpenAI-compatible endpoint
  (``ModelBackendConfig.from_connection`` builds one from an Airflow connection's host, password and extra);
- ``score.score_model_on_samples(release, samples, backend) -> list[SampleScore]``: one shard;
- ``score.aggregate_model_scores(scores, model_name) -> list[EvaluationRow]``: the rows the catalog stores.

The pieces: ``prompts`` (the export read back), ``backends`` (asking), ``answers`` (reading an answer in
its generation's convention), ``metrics`` (the pure accuracy math).
"""
