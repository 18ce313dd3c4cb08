"""The shared kernel of the platform adapters: HTTP with retries, the one backoff formula, typed errors,
the port's value types and states, and the NMP-shaped request/answer language the port speaks."""
