"""Demo users (and, once ingestion exists, documents) for ``make run``. Development mode only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from accounts.models import User
from accounts.roles import ADMIN_SITE_ROLES
from ingestion.models import IngestionJob
from ingestion.services import Access, ingest_file


@dataclass(frozen=True)
class DemoUser:
    username: str
    groups: tuple[str, ...]
    is_superuser: bool = False
    description: str = ""


# Groups include the role groups (accounts.roles) that decide what each may do besides reading.
DEMO_USERS = (
    DemoUser("alice", ("engineering", "employee", "curator"), description="engineer and curator: uploads documents"),
    DemoUser("bob", ("engineering", "employee"), description="engineer, alice's colleague"),
    DemoUser("charlie", ("sales", "employee"), description="sales, an outsider to engineering documents"),
    DemoUser("audrey", ("employee", "auditor"), description="auditor: read-only admin (usage, conversations)"),
    DemoUser("admin", ("admin",), is_superuser=True, description="administrator"),
)


class DemoDataRefused(RuntimeError):
    """Demo users have well-known passwords: never create them outside development mode."""


@transaction.atomic
def load_demo_users(*, password: str) -> list[User]:
    """Create or update the demo users and their groups. Idempotent."""
    if not settings.DEV_MODE:
        raise DemoDataRefused("Demo data is only loaded with DOCENT_DEV=1 (its passwords are public).")
    users = []
    for demo in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=demo.username, defaults={"email": f"{demo.username}@example.com"})
        user.is_superuser = demo.is_superuser
        user.is_staff = demo.is_superuser or bool(ADMIN_SITE_ROLES.intersection(demo.groups))
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in demo.groups])
        users.append(user)
    return users


# --- demo documents (demo/corpus): a small company corpus with real access rules -------------------------

DEMO_CORPUS_DIR = Path(settings.BASE_DIR) / "demo" / "corpus"


@dataclass(frozen=True)
class DemoDocument:
    filename: str
    groups: tuple[str, ...] = ()
    public: bool = False


DEMO_DOCUMENTS = (
    DemoDocument("handbook-welcome.md", public=True),
    DemoDocument("pto-policy.md", public=True),
    DemoDocument("expense-policy.html", public=True),
    DemoDocument("security-basics.txt", public=True),
    DemoDocument("holidays-2026.csv", public=True),
    DemoDocument("benefits-overview.pdf", public=True),
    DemoDocument("deploy-runbook.md", groups=("engineering",)),
    DemoDocument("architecture-overview.html", groups=("engineering",)),
    DemoDocument("incident-response.docx", groups=("engineering",)),
    DemoDocument("sales-playbook.md", groups=("sales",)),
    # Nobody among the demo users is in "hr": everyone can check that it never shows up.
    DemoDocument("salary-bands.md", groups=("hr",)),
)


def load_demo_documents() -> list[IngestionJob]:
    """Queue the demo corpus for ingestion with its access rules. Idempotent: documents are keyed by path,
    unchanged files are not re-ingested, and access is reset to the rules above. A worker does the work."""
    if not settings.DEV_MODE:
        raise DemoDataRefused("Demo data is only loaded with DOCENT_DEV=1.")
    # No owner: an owner may always read their document, and nobody, the admin included, may read the HR file.
    jobs = []
    for demo in DEMO_DOCUMENTS:
        group_ids = tuple(Group.objects.get_or_create(name=name)[0].pk for name in demo.groups)
        jobs.append(
            ingest_file(
                path=DEMO_CORPUS_DIR / demo.filename,
                access=Access(is_public=demo.public, group_ids=group_ids),
                owner=None,
            )
        )
    return jobs
