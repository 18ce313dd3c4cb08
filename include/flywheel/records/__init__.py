"""Logged LLM calls: validation with named reasons, log sources (files, Elasticsearch/OpenSearch), loader."""
