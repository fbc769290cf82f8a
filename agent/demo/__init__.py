"""`annexa demo`: the whole pipeline on a simulated AWS organisation, offline and without credentials.

`world` seeds the simulated company (moto, in-process), `sandbox` isolates the process from real AWS
while the demo runs, `folder` owns the demo directory, and `runner` ties them to the real `annexa run`
code path, the control table and the export bundle.
"""
