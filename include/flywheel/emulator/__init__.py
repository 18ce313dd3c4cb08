"""A local NeMo Microservices platform emulator (no GPU needed): see :func:`flywheel.emulator.app.create_app`
and ``flywheel emulator``. Fault schema: :mod:`flywheel.emulator.faults`."""
