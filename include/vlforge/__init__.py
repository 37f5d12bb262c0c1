"""vlforge: versioned, quality-gated training-set releases for vision-language models.

Plain Python for every stage; the Airflow DAGs in ``dags/`` only wire these functions.
"""
