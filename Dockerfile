# Airflow image with the data flywheel installed. Build: docker build -t data-flywheel-airflow:0.1.0 .
# The base tag must match apache-airflow== in requirements.txt (checked by tests/deploy).
FROM apache/airflow:3.3.2-python3.11

# requirements.txt is our lock and pins apache-airflow==3.3.2 itself, so pip keeps the image's Airflow
# (the image's own constraint file pins the same release; where a transitive pin differs, our lock wins).
COPY --chown=airflow:0 requirements.txt /opt/flywheel/requirements.txt
RUN pip install --no-cache-dir -r /opt/flywheel/requirements.txt

# Our package, non-editable (its dependencies are already in the lock).
COPY --chown=airflow:0 pyproject.toml /opt/flywheel/
COPY --chown=airflow:0 include /opt/flywheel/include
RUN pip install --no-cache-dir --no-deps /opt/flywheel

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 config /opt/airflow/config

ENV FLYWHEEL_CONFIG=/opt/airflow/config/flywheel.yaml \
    FLYWHEEL_ARTIFACTS=/opt/airflow/artifacts \
    HF_HUB_DISABLE_XET=1
