"""Serving adapters: the LiteLLM gateway (routing file) and the Kubernetes ConfigMap."""
