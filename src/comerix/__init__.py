"""Comerix Insights: goals, conversions and analytics for AI chat."""

__version__ = "0.1.0"
