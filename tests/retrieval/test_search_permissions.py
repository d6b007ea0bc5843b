"""alice (uploader), bob (alice's group) and charlie (outsider) on every search path: search(), the API and
the page. These use the real embedding model: permissions must hold on the path production runs."""

from __future__ import annotations

import pytest
from django.test import Client

from retrieval.search import SearchFilters, search
from tests.retrieval.conftest import Team, sync_document_acl, write_document

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

SECRET = "The merger with Globex closes in March; the codename for the deal is Bluebird."
PUBLIC = "The cafeteria serves soup on Mondays and fish on Fridays."


@pytest.fixture
def documents(team: Team):
    restricted = write_document(title="Bluebird deal memo", passages=[SECRET], owner=team.alice, groups=[team.group])
    public = write_document(title="Cafeteria menu", passages=[PUBLIC], is_public=True)
    return restricted, public


def titles(results) -> list[str]:
    return [hit.title for hit in results]


def test_uploader_and_group_member_find_the_restricted_passage(team: Team, documents) -> None:
    for user in (team.alice, team.bob):
        results = search(user=user, query="when does the Globex merger close", k=5)
        assert titles(results)[0] == "Bluebird deal memo"
        assert results[0].text == SECRET
        assert results[0].dense_rank == 1
        assert results[0].lexical_rank == 1


def test_outsider_cannot_see_restricted_chunk(team: Team, documents) -> None:
    results = search(user=team.charlie, query="when does the Globex merger close Bluebird", k=5)
    assert "Bluebird deal memo" not in titles(results)
    assert all(SECRET not in hit.text and "Bluebird" not in hit.snippet for hit in results)
    assert titles(results) == ["Cafeteria menu"]


def test_document_filter_cannot_widen_access(team: Team, documents) -> None:
    restricted, _ = documents
    only_restricted = SearchFilters(document_ids=(restricted.pk,))
    assert search(user=team.charlie, query="Globex merger", k=5, filters=only_restricted) == []
    assert titles(search(user=team.bob, query="Globex merger", k=5, filters=only_restricted)) == ["Bluebird deal memo"]


def test_leaving_the_group_takes_effect_on_the_next_search(team: Team, documents) -> None:
    assert "Bluebird deal memo" in titles(search(user=team.bob, query="Globex merger", k=5))
    team.bob.groups.remove(team.group)
    assert "Bluebird deal memo" not in titles(search(user=team.bob, query="Globex merger", k=5))
    assert "Bluebird deal memo" in titles(search(user=team.alice, query="Globex merger", k=5))


def test_revoking_the_document_grant_takes_effect_on_the_next_search(team: Team, documents) -> None:
    restricted, _ = documents
    restricted.groups.clear()
    sync_document_acl(restricted)
    assert "Bluebird deal memo" not in titles(search(user=team.bob, query="Globex merger", k=5))
    assert "Bluebird deal memo" in titles(search(user=team.alice, query="Globex merger", k=5))


def test_inactive_and_anonymous_users_get_nothing(team: Team, documents) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert search(user=AnonymousUser(), query="cafeteria soup", k=5) == []
    team.alice.is_active = False
    team.alice.save(update_fields=["is_active"])
    assert search(user=team.alice, query="Globex merger", k=5) == []


# --- the API ---------------------------------------------------------------------------------------------


def api_search(client: Client, query: str, **extra):
    return client.post("/api/v1/search/", {"query": query, **extra}, content_type="application/json")


def test_api_returns_the_restricted_passage_to_alice_and_bob(team: Team, documents) -> None:
    client = Client()
    for user in (team.alice, team.bob):
        client.force_login(user)
        response = api_search(client, "Globex merger codename", k=3)
        assert response.status_code == 200
        body = response.json()
        assert body["results"][0]["title"] == "Bluebird deal memo"
        assert "Bluebird" in body["results"][0]["snippet"]
        assert set(body["results"][0]) >= {"chunk_id", "document_id", "title", "snippet", "score", "locator"}
        assert body["settings"]["k"] == 3
        assert body["settings"]["mode"] == "hybrid"
        assert body["settings"]["embedding_model"]


def test_api_hides_the_restricted_passage_from_charlie(team: Team, documents) -> None:
    client = Client()
    client.force_login(team.charlie)
    response = api_search(client, "Globex merger codename Bluebird", k=10)
    assert response.status_code == 200
    assert [hit["title"] for hit in response.json()["results"]] == ["Cafeteria menu"]
    assert "Bluebird" not in response.content.decode()


def test_api_refuses_anonymous_callers_and_bad_input(team: Team, documents) -> None:
    assert api_search(Client(), "Globex merger").status_code in (401, 403)
    client = Client()
    client.force_login(team.bob)
    assert api_search(client, "").status_code == 400
    assert api_search(client, "Globex", k=0).status_code == 400
    assert api_search(client, "Globex", k=10_000).status_code == 400


def test_api_is_in_the_openapi_schema(team: Team) -> None:
    client = Client()
    client.force_login(team.alice)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/v1/search/" in text
    assert "SearchRequest" in text and "SearchResponse" in text


# --- the page --------------------------------------------------------------------------------------------


def test_search_page_shows_the_passage_to_bob_only(team: Team, documents) -> None:
    client = Client()
    client.force_login(team.bob)
    page = client.get("/search/", {"q": "Globex merger codename"}).content.decode()
    assert "Bluebird deal memo" in page
    client.force_login(team.charlie)
    page = client.get("/search/", {"q": "Globex merger codename Bluebird"}).content.decode()
    assert "Bluebird deal memo" not in page
    assert "Globex" not in page.replace("Globex merger codename Bluebird", "")


def test_search_page_needs_sign_in_and_loads_its_script_without_inline_code(team: Team) -> None:
    response = Client().get("/search/", {"q": "anything"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    client = Client()
    client.force_login(team.alice)
    page = client.get("/search/").content.decode()
    assert 'src="/static/js/search.js"' in page
    assert "<script>" not in page
    search_form = page[page.index('id="search-form"') : page.index("</form>", page.index('id="search-form"'))]
    # The CSRF token rides on a data attribute, not a field that a GET form would put in the URL.
    assert "csrfmiddlewaretoken" not in search_form
    assert "data-csrf-token=" in search_form
