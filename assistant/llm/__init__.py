"""The LLM gateway: the one place that knows providers, keys, prices, budgets, retries and fallbacks."""
