"""HEDIS Star Rating Portfolio Optimizer: project package (settings, URLs, cross-cutting code)."""
