"""Deep research on a durable engine: plan, parallel searches, analysis (see README.md)."""
