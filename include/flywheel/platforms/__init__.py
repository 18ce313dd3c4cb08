"""Platform backends the flywheel can run on (NeMo Microservices 25.x lives in :mod:`flywheel.nemo`)."""
