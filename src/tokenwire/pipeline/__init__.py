"""The stream pipeline between the adapter and the event log: guardrails and budgets."""
