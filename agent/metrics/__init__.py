"""Prometheus metrics: computed from the evidence store on scrape, served over HTTP, or pushed after a run."""
