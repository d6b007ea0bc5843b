"""Writes for accounts: role permissions, group sync from the identity provider, sessions, API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, IdpGroup, User, new_session_epoch
from accounts.roles import ADMIN_SITE_ROLES, ROLE_NAMES, ROLE_PERMISSIONS, permission_matches, roles_for_idp_groups

logger = logging.getLogger(__name__)

TOKEN_SCHEME = "dct"  # noqa: S105 (the visible start of every token, not a secret)
TOKEN_PREFIX_LENGTH = 12
# last_used_at is written at most this often per token, so a busy client does not write on every request.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)
# auth.Group.name is limited to 150 characters; longer IdP group names are skipped (and logged), not cut.
GROUP_NAME_MAX_LENGTH = 150


# --- roles ---------------------------------------------------------------------------------------------


@transaction.atomic
def sync_role_permissions(*, role_permissions: Mapping[str, tuple[str, ...]] = ROLE_PERMISSIONS) -> dict[str, int]:
    """Make each role group exist and hold exactly the permissions its patterns match. Idempotent.

    Permissions of apps not migrated yet simply do not match; running this again after their migration (it
    runs after every ``migrate``) adds them. Returns the number of permissions per role.
    """
    permissions = list(Permission.objects.select_related("content_type"))
    counts: dict[str, int] = {}
    for role in ROLE_NAMES:
        group, _ = Group.objects.get_or_create(name=role)
        patterns = role_permissions.get(role, ())
        wanted = [
            permission
            for permission in permissions
            if any(
                permission_matches(pattern, app_label=permission.content_type.app_label, codename=permission.codename)
                for pattern in patterns
            )
        ]
        group.permissions.set(wanted)
        counts[role] = len(wanted)
    return counts


# --- group sync from the identity provider -------------------------------------------------------------


@dataclass(frozen=True)
class GroupSyncResult:
    added: frozenset[str]
    removed: frozenset[str]
    roles: frozenset[str]
    skipped: frozenset[str]


def normalize_idp_groups(claim: object) -> set[str]:
    """IdP group names from a claim value: a list of strings, or one string. Anything else counts as none."""
    if isinstance(claim, str):
        values: Iterable[object] = [claim]
    elif isinstance(claim, list | tuple):
        values = claim
    else:
        return set()
    return {value.strip() for value in values if isinstance(value, str) and value.strip()}


@transaction.atomic
def sync_groups_from_idp(
    *,
    user: User,
    idp_groups: Iterable[str],
    role_group_map: Mapping[str, frozenset[str]],
    default_role: str | None,
) -> GroupSyncResult:
    """Make the user's IdP-managed groups and roles exactly what the IdP says now.

    Guarantees: the user is a member of one Django group per IdP group (created and marked as IdP-owned on
    first sight) and of the role groups those IdP groups grant; membership of IdP-owned or role groups the
    IdP no longer lists is removed; groups created by hand in Docent are untouched. ``is_staff`` follows
    the roles (superusers stay staff). The number of queries does not grow with the number of groups.
    """
    names = set(idp_groups)
    skipped = {name for name in names if len(name) > GROUP_NAME_MAX_LENGTH}
    if skipped:
        logger.warning("Skipped %d IdP group names longer than %d characters", len(skipped), GROUP_NAME_MAX_LENGTH)
    names -= skipped
    roles = roles_for_idp_groups(names, role_group_map=role_group_map, default_role=default_role)

    Group.objects.bulk_create([Group(name=name) for name in names | set(ROLE_NAMES)], ignore_conflicts=True)
    groups_by_name = dict(Group.objects.filter(name__in=names | set(ROLE_NAMES)).values_list("name", "id"))
    IdpGroup.objects.bulk_create([IdpGroup(group_id=groups_by_name[name]) for name in names], ignore_conflicts=True)
    role_ids = {groups_by_name[role] for role in ROLE_NAMES}
    wanted = {groups_by_name[name] for name in names if name not in ROLE_NAMES} | {
        groups_by_name[role] for role in roles
    }

    membership = User.groups.through
    current = dict(Group.objects.filter(user=user).values_list("id", "name"))
    managed_ids = set(IdpGroup.objects.filter(group_id__in=current).values_list("group_id", flat=True)) | role_ids
    to_add = wanted - current.keys()
    to_remove = {group_id for group_id in current.keys() - wanted if group_id in managed_ids}
    if to_remove:
        membership.objects.filter(user_id=user.pk, group_id__in=to_remove).delete()
    membership.objects.bulk_create(
        [membership(user_id=user.pk, group_id=group_id) for group_id in to_add], ignore_conflicts=True
    )

    is_staff = user.is_superuser or bool(roles & ADMIN_SITE_ROLES)
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    names_by_id = {group_id: name for name, group_id in groups_by_name.items()}
    return GroupSyncResult(
        added=frozenset(names_by_id[group_id] for group_id in to_add),
        removed=frozenset(current[group_id] for group_id in to_remove),
        roles=frozenset(roles),
        skipped=frozenset(skipped),
    )


def grant_role(*, user: User, role: str) -> None:
    """Add ``user`` to the role group (nothing else changes); used when the IdP sends no groups."""
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    if role in ADMIN_SITE_ROLES and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])


# --- sessions --------------------------------------------------------------------------------------------


def log_out_everywhere(*, user: User) -> None:
    """End every session of the user, on every device: the session hash of all of them stops matching."""
    user.session_epoch = new_session_epoch()
    user.save(update_fields=["session_epoch"])


# --- API tokens ------------------------------------------------------------------------------------------


class TokenError(Exception):
    """A bearer token that does not authenticate anyone; the message is safe to show to the client."""


def hash_token_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: nothing to brute-force, unlike a password.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown to the user once, never stored


def create_api_token(*, user: User, name: str, expires_at: datetime | None = None) -> IssuedToken:
    """Issue a token for ``user``. Guarantees the raw value exists only in the return value, never at rest."""
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("A token's expiry must be in the future.")
    prefix = secrets.token_hex(TOKEN_PREFIX_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "API token", prefix=prefix, secret_hash=hash_token_secret(secret),
        expires_at=expires_at,
    )  # fmt: skip
    return IssuedToken(token=token, raw=f"{TOKEN_SCHEME}_{prefix}_{secret}")


def revoke_api_token(*, token: ApiToken) -> None:
    """Revoke a token: it is refused from the next request on. Revoking twice keeps the first time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])


def authenticate_api_token(*, raw: str) -> ApiToken:
    """The live token for a raw bearer value, with its user loaded; records its use (coarsely).

    Raises ``TokenError`` for a malformed, unknown, wrong, revoked or expired token or an inactive user.
    """
    scheme, _, rest = raw.partition("_")
    prefix, secret = rest[:TOKEN_PREFIX_LENGTH], rest[TOKEN_PREFIX_LENGTH + 1 :]
    if scheme != TOKEN_SCHEME or rest[TOKEN_PREFIX_LENGTH : TOKEN_PREFIX_LENGTH + 1] != "_" or not secret:
        raise TokenError("Malformed API token.")
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not secrets.compare_digest(token.secret_hash, hash_token_secret(secret)):
        raise TokenError("Invalid API token.")
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenError("This API token has been revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenError("This API token has expired.")
    if not token.user.is_active:
        raise TokenError("The user of this API token is inactive.")
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
