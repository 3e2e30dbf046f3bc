"""Databricks interop (DESIGN.md §8): a flow as Jobs API 2.2 job settings, and back.

jobs    ``job_settings(plan)``: the flow as job settings, with warnings for what has no field
load    ``flow_from_job(settings)``: job settings as a flow that runs them locally
"""
