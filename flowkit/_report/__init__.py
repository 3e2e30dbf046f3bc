"""Seeing runs (DESIGN.md §6): the HTML report, its graph and timeline, and the local ui.

model   RunView: one run read from the history, with its waits and critical path
dag     the graph's layered layout (few crossings, no overlap) for SVG
gantt   the timeline: a bar per attempt, queue and retry waits, repair passes
html    the pages (Jinja2, autoescaped) with inline styles and script and a strict CSP
files   ``flowkit report``: RUN_ID.html and its child runs' reports beside it
server  ``flowkit ui``: a read-only web app over the home (stdlib http.server)
"""
