"""Sub-commands of the ``flywheel`` CLI. Each module exposes ``register(subparsers)``; heavy imports stay
inside the handler so ``flywheel --help`` is instant."""
