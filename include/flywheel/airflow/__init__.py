"""Airflow glue: the only place (with ``dags/``) that imports Airflow. Triggers live here, in the
installed package, because the triggerer must import them."""
