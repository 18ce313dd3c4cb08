"""The ``nmp`` adapter of the platform port: NeMo Microservices 25.x (clients, endpoints, Data Store upload).

Opened through :func:`flywheel.platforms.registry.open_platform`; nothing outside ``platforms/`` imports it.
"""
