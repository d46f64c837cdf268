# The Airflow image gonogo runs in under docker compose: the official image plus what it lacks.
# Versions match requirements.txt (tests/test_packaging.py checks that they do).
FROM apache/airflow:3.3.2-python3.11
RUN pip install --no-cache-dir "pglast==8.8" "squawk-cli==2.70.0" "psycopg[binary]==3.3.9" "slack-sdk==3.47.0"
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins
