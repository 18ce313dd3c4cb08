"""Platform backends the flywheel can run on: the shared kernel (:mod:`flywheel.platforms.core`), one folder
per backend (``nmp``, ``helix``) and the registry that opens them (:mod:`flywheel.platforms.registry`)."""
