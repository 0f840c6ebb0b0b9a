"""Deterministic simulators of the external systems, served over real HTTP on loopback.

`server` holds the framework (`SandboxConfig`, `build_app`, `SandboxServer`, `serve`), `base`
the `Simulator` contract and admin-request helpers, `faults` the shared `FaultInjector`, and one
package per simulated API (`octadesk`, `helpdesk_web`, `telegram`, `ploomes`, `milvus`) or
module (`sheets`); `crm_world` and `crm_api` are what Ploomes and Milvus share. The published
demo credentials are in `support_assets.core.sandbox_defaults`.
"""
