"""HR sources: who works here, since when and until when (`hr.person`).

`hr_csv` reads a roster exported as CSV; `bamboohr` reads BambooHR's employee dataset. Both yield
`hr.person` resources (agent/identity/shape.py), which the cross-source identity rules join with
the accounts of every identity source (agent/identity/).
"""
