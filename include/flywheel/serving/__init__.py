"""Serving: how an approved promotion reaches the traffic that produced it (docs/loop.md).

Airflow-free. ``routing`` is the document every adapter delivers (per workload: incumbent, candidate, the
candidate's weight, the rollout step); ``port`` is the small protocol the rollout DAG drives; ``adapters``
hold the gateway (a LiteLLM proxy with our hook) and the Kubernetes ConfigMap; ``compare`` and ``observe``
turn answers and the gateway's serving log into the figures a step is judged by; ``drift`` counts log
records and their tool/class distribution for the log watcher.
"""
