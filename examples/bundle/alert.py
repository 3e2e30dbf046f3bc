"""Runs only when metrics or train failed (run_if: AT_LEAST_ONE_FAILED)."""

print("ALERT: the metrics or the model did not build; see `flowkit show`")
