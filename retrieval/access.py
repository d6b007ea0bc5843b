"""Who may read what: ACL keys for users and for documents. Defined once, used by every read path."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from retrieval.models import PUBLIC_ACL_KEY


def acl_keys_for_user(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The keys a user holds: public, their own user key, and one per group. Nobody signed in holds none."""
    if not user.is_authenticated or not user.is_active:
        return []
    group_ids = user.groups.values_list("id", flat=True)  # type: ignore[attr-defined]
    return [PUBLIC_ACL_KEY, f"user:{user.pk}", *(f"group:{group_id}" for group_id in sorted(group_ids))]


def acl_for_document(
    *, is_public: bool, group_ids: Iterable[int], user_ids: Iterable[int], owner_id: int | None
) -> list[str]:
    """The ACL array stored on each of a document's chunks. The owner can always read their document."""
    keys = {f"group:{group_id}" for group_id in group_ids} | {f"user:{user_id}" for user_id in user_ids}
    if owner_id is not None:
        keys.add(f"user:{owner_id}")
    if is_public:
        keys.add(PUBLIC_ACL_KEY)
    return sorted(keys)
