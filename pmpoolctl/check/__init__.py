"""Checking a pool: findings as data, the rules, and the validator."""
