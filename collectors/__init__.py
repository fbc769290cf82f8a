"""Collector plugins. Built-ins register through the `annexa.collectors` entry-point group."""
