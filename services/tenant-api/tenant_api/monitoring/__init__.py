"""Spend monitoring: threshold alerts, heavy users, rollover and burst allowance."""
