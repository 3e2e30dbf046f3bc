"""Operating flows (DESIGN.md §5): serve their schedules and triggers, and backfill them.

firing     when a served flow's schedule or trigger is due, its state kept in the home
targets    the flows with a schedule or trigger in files, modules or folders
launcher   runs as their own ``python -m flowkit run`` processes
serve      ``flowkit serve``: the loop, one per home
backfill   ``flowkit backfill``: one run per past slot
"""
