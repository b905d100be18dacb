"""labornet's test kit, installed by ``make venv`` for tests and benchmarks
only (no service imports it, no Dockerfile installs it).

* :mod:`.harness` — databases, brokers, services as processes, TCP proxies,
  log capture and the case factories every service's tests use.
* :mod:`.intake`, :mod:`.registry`, :mod:`.routing`, :mod:`.notify` — each
  service's fixtures and the factories of the events it consumes.
* :mod:`.citizen_pages` — reading the citizen's pages as a phone would.
* :mod:`.providers` — local servers that speak the providers' protocols.
* :mod:`.fuzzing` — the property-based HTTP harness over a service's OpenAPI.
"""
