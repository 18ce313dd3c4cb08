"""The ``helix`` adapter of the platform port: NeMo Helix v2 (client, routes, payloads, translation, states).

Opened through :func:`flywheel.platforms.registry.open_platform`; nothing outside ``platforms/`` imports it.
"""
