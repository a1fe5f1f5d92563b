"""What reading from a paying platform costs: unit prices, the spend recorded with what was read,
and the budgets checked before each page (docs/costs.md)."""
