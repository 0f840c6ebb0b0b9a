"""Deterministic simulators of the external systems, served over real HTTP on loopback.

`server` holds the framework (`SandboxConfig`, `build_app`, `SandboxServer`, `serve`),
`faults` the shared `FaultInjector`, and one module per simulated system (`octadesk`).
"""
