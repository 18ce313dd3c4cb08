"""Run the flywheel locally: Airflow components, the NeMo emulator and helper servers as managed
processes on loopback ports (used by ``make demo`` and the integration tests)."""
