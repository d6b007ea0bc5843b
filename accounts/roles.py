"""Roles: four Django groups and the permissions each one carries.

A role is an ordinary ``auth.Group`` whose name is one of ``ROLE_NAMES``; a user holds a role by being a member.
Roles come from the identity provider (see ``accounts.services.sync_groups_from_idp``) or, for local accounts,
from the admin. ``ROLE_PERMISSIONS`` is the one place that says what each role may do in the Django admin;
apps that add models extend it here, and ``sync_role_permissions()`` (run after every ``migrate``) applies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

EMPLOYEE = "employee"
CURATOR = "curator"
ADMIN = "admin"
AUDITOR = "auditor"
ROLE_NAMES: tuple[str, ...] = (EMPLOYEE, CURATOR, ADMIN, AUDITOR)

# Roles that may enter the Django admin (together with is_staff, which group sync derives from them).
ADMIN_SITE_ROLES = frozenset({CURATOR, ADMIN, AUDITOR})
# Roles that must have signed in with a second factor to use the admin when ADMIN_MFA_REQUIRED=1.
MFA_ROLES = frozenset({ADMIN, AUDITOR})

# Permission patterns, "<app_label>.<codename>": an exact codename, "<app_label>.view_*" (every view
# permission of that app) or "<app_label>.*" (every permission of that app). Wildcards make a role follow an
# app as it grows; apps that must stay out of a role (documents and chunks for auditors and admins, who may
# only read what their ACLs allow) are simply not listed.
ROLE_PERMISSIONS: Mapping[str, tuple[str, ...]] = {
    # Employees chat and manage their own API tokens in the app; they have no admin permissions.
    EMPLOYEE: (),
    # Curators upload documents and manage their access.
    CURATOR: ("ingestion.*",),
    # Admins run the assistant: prompts (assistant app), routes, models and budgets (llm app), users and
    # groups, schedules.
    ADMIN: (
        "assistant.*",
        "llm.*",
        "evals.*",
        "accounts.*",
        "auth.view_group",
        "auth.change_group",
        "django_celery_beat.*",
    ),
    # Auditors read the audit log, conversation metadata and usage, and who has which account; never change.
    AUDITOR: (
        "assistant.view_*",
        "llm.view_*",
        "evals.view_*",
        "accounts.view_*",
        "auth.view_group",
        # The tamper-evident audit log (assistant.audit): read, export to CSV, replay an answer's access.
        "audit.view_*",
    ),
}


def permission_matches(pattern: str, *, app_label: str, codename: str) -> bool:
    """Whether a permission (app label + codename) is covered by one ``ROLE_PERMISSIONS`` pattern."""
    pattern_app, _, pattern_codename = pattern.partition(".")
    if pattern_app != app_label:
        return False
    if pattern_codename == "*":
        return True
    if pattern_codename.endswith("*"):
        return codename.startswith(pattern_codename[:-1])
    return codename == pattern_codename


def parse_role_group_map(value: str) -> dict[str, frozenset[str]]:
    """Parse ``ROLE_GROUP_MAP`` (``role=idp-group|idp-group,role=...``) into role → IdP group names.

    Every role also answers to an IdP group with its own name, so an empty map still works when the IdP's
    groups are called ``admin``, ``auditor``, ``curator``. Unknown roles fail loudly at start-up.
    """
    mapping: dict[str, set[str]] = {role: {role} for role in ROLE_NAMES}
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        role, sep, groups = entry.partition("=")
        role = role.strip()
        if not sep or role not in mapping:
            raise ValueError(
                f"ROLE_GROUP_MAP entry {entry!r} must be <role>=<group>|<group> with a role in {ROLE_NAMES}"
            )
        mapping[role].update(group.strip() for group in groups.split("|") if group.strip())
    return {role: frozenset(groups) for role, groups in mapping.items()}


def roles_for_idp_groups(
    idp_groups: Iterable[str], *, role_group_map: Mapping[str, frozenset[str]], default_role: str | None
) -> set[str]:
    """The roles a set of IdP group names grants, plus the default role every SSO user holds."""
    names = set(idp_groups)
    roles = {role for role, groups in role_group_map.items() if names & groups}
    if default_role:
        roles.add(default_role)
    return roles
