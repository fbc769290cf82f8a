"""Manual evidence for the demo: short generated documents attached to policy and people controls.

Real organisations attach their approved policies and training records with `annexa evidence add`;
the demo does the same through the same code (`agent.manual.add_evidence`), if that module exists.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.store.store import EvidenceStore

log = logging.getLogger("annexa.demo")

INFOSEC_POLICY = """\
# Acme Ltd — Information Security Policy

Version 3.1 · approved by the management board · owner: CISO · next review in 12 months

## Purpose
Acme processes payments for small merchants. This policy states how we protect the confidentiality,
integrity and availability of our customers' data and of the systems that handle it.

## Commitments
1. We keep an information security management system aligned with ISO/IEC 27001:2022.
2. Every system has an owner; access follows least privilege and is reviewed every quarter.
3. Every person with access to production uses multi-factor authentication.
4. Data is encrypted in transit and at rest; keys are managed in AWS KMS and rotated yearly.
5. Security events are logged centrally and kept for at least one year.
6. Incidents are reported to security@acme.example within one hour of discovery.

## Topic-specific policies
Acceptable use, access control, cryptography, supplier security, secure development, incident
management and business continuity each have their own policy under this one.

## Compliance
Breaches of this policy are handled through the disciplinary process. Exceptions need a risk
acceptance signed by the CISO, with an owner and an expiry date.
"""

ACCEPTABLE_USE = """\
# Acme Ltd — Acceptable Use Policy

Version 2.0 · owner: CISO

- Company laptops are encrypted, locked when unattended and updated within 14 days of a release.
- Customer data stays in approved systems; it is never copied to personal devices or personal accounts.
- Passwords live in the company password manager; credentials are never shared or sent by chat.
- Suspected phishing or loss of a device is reported to security@acme.example straight away.
"""

TRAINING_RECORDS = """\
email,course,completed_on,score
alice@acme.example,Security awareness 2025,2025-02-03,96
bob@acme.example,Security awareness 2025,2025-02-11,88
carol@acme.example,Security awareness 2025,2025-03-02,91
dave@acme.example,Security awareness 2025,2025-02-20,79
erin@acme.example,Security awareness 2025,2025-02-05,100
"""

# (file name, control, document text, validity in days, note)
DOCUMENTS = [
    ("information-security-policy.md", "A.5.1", INFOSEC_POLICY, 365,
     "Top-level policy approved by the board (simulated for the demo)"),
    ("acceptable-use-policy.md", "A.5.10", ACCEPTABLE_USE, 365, "Acceptable use policy (simulated for the demo)"),
    ("security-awareness-training-2025.csv", "A.6.3", TRAINING_RECORDS, 365,
     "Completion records exported from the training platform (simulated for the demo)"),
]


def attach_documents(store: EvidenceStore, folder: Path) -> list[str]:
    """Write the documents into `folder` and attach each to its control; return what was attached."""
    try:
        from agent.manual import add_evidence
    except ImportError:
        log.debug("demo: manual evidence support not installed; no documents attached")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    attached = []
    for name, control, text, days, note in DOCUMENTS:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        add_evidence(store, control, path, valid_for=timedelta(days=days), note=note,
                     uploaded_by="ciso@acme.example")
        attached.append(f"{control} ← {name}")
    return attached
