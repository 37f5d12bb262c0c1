-- Run once by the postgres image on its first start (docker-entrypoint-initdb.d): the release catalog's
-- own database beside Airflow's metadata DB. vlforge creates its tables on first use (vlforge.catalog).
CREATE DATABASE vlforge_catalog OWNER airflow;
