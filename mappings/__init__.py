"""Control catalogue data (shipped in the wheel)."""
