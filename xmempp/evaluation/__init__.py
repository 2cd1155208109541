"""Evaluation: J&F metrics and the speed benchmark."""
