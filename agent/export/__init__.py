"""The auditor export bundle: `annexa export` writes it, `annexa verify FILE.zip` checks it."""
