"""Inference: settings, preprocessing, the session with explicit memory controls, and shot jobs."""
