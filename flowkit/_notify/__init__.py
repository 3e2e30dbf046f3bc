"""Notifications (DESIGN.md §5): told by the orchestrator, or by serve, never by a task's process.

payload    the JSON payload of an event, built from run events and records
send       one try to one destination: an HTTP POST, Apprise, or a callable
notifier   Deliveries (a background thread: tries with backoff, each one recorded)
           and Notifier, the run listener that turns a run's events into deliveries
"""
