"""The demo's HR roster: Acme's people as a CSV export, read by the real `hr_csv` source.

Dates are relative to the day the demo runs, so the story is the same every time:
- carol left 30 days ago and still has an active AWS IAM user (production) and, where the demo
  has an Okta tenant, an active Okta account: the leaver with access;
- heidi left 60 days ago and every account of hers is disabled: a leaver done right;
- grace is serving her notice (her last day is in 20 days); frank joined 5 days ago and has not
  signed in yet (not stale); ivan has not signed in for months (stale);
- judy's row has an impossible end date in run 1 (an `error` finding naming the file and line),
  which HR corrects before run 2;
- mallory@contractor.example is deliberately absent: her account elsewhere is an orphan.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

HEADER = "Work Email,Full Name,Employment Status,Hire Date,Termination Date,Manager,Department\n"
COLUMNS = ("{email: Work Email, name: Full Name, status: Employment Status, start_date: Hire Date, "
           "end_date: Termination Date, manager: Manager, department: Department}")


def roster(today: date, *, judy_fixed: bool = False) -> str:
    """The CSV text on `today`."""
    def d(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    judy_end = d(-90) if judy_fixed else "2025-02-30"
    rows = [
        ("alice@acme.example", "Alice Martin", "Active", d(-1400), "", "", "Platform"),
        ("bob@acme.example", "Bob Okafor", "Active", d(-900), "", "alice@acme.example", "Internal Audit"),
        ("carol@acme.example", "Carol Diaz", "Terminated", d(-700), d(-30), "alice@acme.example", "Payments"),
        ("dave@acme.example", "Dave Chen", "Active", d(-600), "", "alice@acme.example", "Engineering"),
        ("erin@acme.example", "Erin Novak", "Active", d(-500), "", "alice@acme.example", "Engineering"),
        ("frank@acme.example", "Frank Osei", "Active", d(-5), "", "erin@acme.example", "Engineering"),
        ("grace@acme.example", "Grace Kim", "Active", d(-800), d(20), "erin@acme.example", "Engineering"),
        ("heidi@acme.example", "Heidi Braun", "Terminated", d(-1000), d(-60), "alice@acme.example", "Payments"),
        ("ivan@acme.example", "Ivan Petrov", "Active", d(-1200), "", "erin@acme.example", "Data"),
        ("judy@acme.example", "Judy Park", "Terminated", d(-900), judy_end, "bob@acme.example", "Finance"),
    ]
    return HEADER + "".join(",".join(row) + "\n" for row in rows)


class HrRoster:
    """The HR roster CSV in DIR/sources/demo-hr/ (no simulator to start: the file is the source)."""

    source = "demo-hr"
    title = "HR roster (CSV export, 10 people: a leaver with access, one serving notice, a joiner)"

    def __init__(self) -> None:
        self.path: Path | None = None
        self.today: date | None = None

    def start(self, folder: Path, today: date) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path, self.today = folder / "roster.csv", today
        self.path.write_text(roster(today), encoding="utf-8")

    def source_yaml(self) -> str:
        return (f"- name: {self.source}\n  type: hr_csv\n  path: sources/{self.source}/roster.csv\n"
                f"  columns: {COLUMNS}\n")

    def env(self) -> dict[str, str]:
        return {}

    def apply_fixes(self) -> list[str]:
        if self.path is None or self.today is None:
            return []
        self.path.write_text(roster(self.today, judy_fixed=True), encoding="utf-8")
        return ["HR corrected judy@acme.example's impossible termination date in the roster"]

    def stop(self) -> None:
        return None


PROVIDER = HrRoster
