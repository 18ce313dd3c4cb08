# Airflow image with the data flywheel installed. Build: docker build -t data-flywheel-airflow:0.1.0 .
FROM apache/airflow:3.3.2-python3.11

# Our lock is the constraint: Airflow's published constraint files pin the same Airflow version.
COPY --chown=airflow:0 requirements.txt /opt/flywheel/requirements.txt
RUN pip install --no-cache-dir -r /opt/flywheel/requirements.txt

COPY --chown=airflow:0 pyproject.toml README.md /opt/flywheel/
COPY --chown=airflow:0 include /opt/flywheel/include
RUN pip install --no-cache-dir --no-deps /opt/flywheel

COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 config /opt/airflow/config

ENV FLYWHEEL_CONFIG=/opt/airflow/config/flywheel.yaml \
    FLYWHEEL_ARTIFACTS=/opt/airflow/artifacts \
    HF_HUB_DISABLE_XET=1
