"""Data flywheel on Apache Airflow: production LLM logs -> datasets -> NeMo evaluations of cheaper NIMs.

Layers (one way): ``records`` -> ``datasets`` -> ``nemo`` -> results; ``airflow`` holds the only Airflow glue.
"""

__version__ = "0.1.0"
