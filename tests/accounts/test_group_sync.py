"""Group sync from the IdP's groups claim: joined groups added, left ones removed, hand-made ones kept."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import IdpGroup, User
from accounts.roles import parse_role_group_map, roles_for_idp_groups
from accounts.services import grant_role, normalize_idp_groups, sync_groups_from_idp

pytestmark = pytest.mark.django_db

DEFAULT_MAP = parse_role_group_map("")


def names(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def sync(user: User, groups: list[str], role_map: str = "", default_role: str | None = "employee"):
    return sync_groups_from_idp(
        user=user, idp_groups=groups, role_group_map=parse_role_group_map(role_map), default_role=default_role
    )


def test_first_sign_in_creates_and_joins_the_idp_groups_and_the_default_role() -> None:
    user = User.objects.create_user("alice")
    result = sync(user, ["engineering", "all-staff"])
    assert names(user) == {"engineering", "all-staff", "employee"}
    assert result.roles == {"employee"}
    assert set(IdpGroup.objects.values_list("group__name", flat=True)) == {"engineering", "all-staff"}


def test_next_sign_in_removes_left_groups_and_keeps_groups_made_in_docent() -> None:
    user = User.objects.create_user("alice")
    sync(user, ["engineering", "all-staff"])
    user.groups.add(Group.objects.create(name="book-club"))
    result = sync(user, ["platform", "all-staff"])
    assert names(user) == {"platform", "all-staff", "employee", "book-club"}
    assert result.added == {"platform"}
    assert result.removed == {"engineering"}
    # Others stay members of the group alice left.
    bob = User.objects.create_user("bob")
    sync(bob, ["engineering"])
    assert "engineering" in names(bob)


def test_roles_follow_the_role_group_map_and_staff_follows_the_roles() -> None:
    user = User.objects.create_user("alice")
    role_map = "admin=docent-admins,auditor=security|compliance"
    sync(user, ["compliance"], role_map)
    user.refresh_from_db()
    assert names(user) == {"compliance", "auditor", "employee"}
    assert user.is_staff

    sync(user, ["engineering"], role_map)
    user.refresh_from_db()
    assert names(user) == {"engineering", "employee"}, "the auditor role is removed with the group that granted it"
    assert not user.is_staff


def test_an_idp_group_named_like_a_role_grants_that_role() -> None:
    user = User.objects.create_user("alice")
    sync(user, ["curator"])
    assert names(user) == {"curator", "employee"}


def test_role_assigned_by_hand_is_replaced_by_what_the_idp_says() -> None:
    user = User.objects.create_user("alice")
    user.groups.add(Group.objects.get(name="admin"))
    sync(user, ["engineering"])
    assert "admin" not in names(user)


def test_superuser_stays_staff_without_roles() -> None:
    user = User.objects.create_superuser("root", password="x" * 20)
    sync(user, [], default_role=None)
    user.refresh_from_db()
    assert user.is_staff


def test_hundreds_of_groups_cost_the_same_number_of_queries_as_a_few() -> None:
    few, many = User.objects.create_user("few"), User.objects.create_user("many")
    with CaptureQueriesContext(connection) as small:
        sync(few, [f"team-{i}" for i in range(3)])
    with CaptureQueriesContext(connection) as large:
        sync(many, [f"group-{i}" for i in range(600)])
    assert len(names(many)) == 601
    assert len(large.captured_queries) == len(small.captured_queries)
    # And re-syncs that drop and add groups cost the same whether one group changes or three hundred.
    with CaptureQueriesContext(connection) as small_resync:
        sync(few, ["team-1", "team-2", "team-3"])
    with CaptureQueriesContext(connection) as large_resync:
        sync(many, [f"group-{i}" for i in range(300, 900)])
    assert len(names(many)) == 601
    assert not {f"group-{i}" for i in range(300)} & names(many)
    assert len(large_resync.captured_queries) == len(small_resync.captured_queries)


def test_group_names_too_long_for_django_are_skipped_not_truncated() -> None:
    user = User.objects.create_user("alice")
    long_name = "x" * 151
    result = sync(user, ["engineering", long_name])
    assert result.skipped == {long_name}
    assert names(user) == {"engineering", "employee"}


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (["a", " b ", "", "a"], {"a", "b"}),
        ("solo", {"solo"}),
        (None, set()),
        ({"not": "a list"}, set()),
        (["ok", 3, None], {"ok"}),
    ],
)
def test_claim_values_are_normalized(claim: object, expected: set[str]) -> None:
    assert normalize_idp_groups(claim) == expected


def test_role_group_map_rejects_unknown_roles() -> None:
    with pytest.raises(ValueError, match="ROLE_GROUP_MAP"):
        parse_role_group_map("superhero=capes")
    assert roles_for_idp_groups(["capes"], role_group_map=DEFAULT_MAP, default_role=None) == set()


def test_grant_role_only_adds_the_role() -> None:
    user = User.objects.create_user("alice")
    user.groups.add(Group.objects.create(name="book-club"))
    grant_role(user=user, role="auditor")
    user.refresh_from_db()
    assert names(user) == {"book-club", "auditor"}
    assert user.is_staff
