"""What a run's output amounts to: token estimates, prices and cost, inter-token timing.

Low in the layers because budgets (``pipeline``), the run recorder (``runs``) and telemetry
all count with the same rules: ``estimate`` for tokens a provider did not report,
``pricing`` for the bundled price table and cost, ``timing`` for gap statistics.
"""
