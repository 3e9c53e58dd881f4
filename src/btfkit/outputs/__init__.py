"""Outputs: bpftool's raw text, JSON and C header dumps."""
