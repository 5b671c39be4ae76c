"""Operator reports: heavy users, margin, bursts."""
