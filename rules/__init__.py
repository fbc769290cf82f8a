"""Rule packs (YAML data, shipped in the wheel). One folder per provider."""
