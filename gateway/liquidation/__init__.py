"""Tiered forced liquidation: instructions, tiers, planner, price-ladder executor, manual review."""
