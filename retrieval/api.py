"""REST API of retrieval: ``POST /api/v1/search/``."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from retrieval.search import SearchFilters, search


class SearchRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, help_text="What to look for, in words.")
    k = serializers.IntegerField(
        min_value=1, max_value=settings.RETRIEVAL_MAX_K, required=False, help_text="How many results."
    )
    document_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),  # ids are bigints
        required=False,
        max_length=1000,
        help_text="Only search these documents (permissions still apply).",
    )


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    version_id = serializers.IntegerField()
    title = serializers.CharField()
    snippet = serializers.CharField()
    locator = serializers.JSONField(help_text='Where the passage is, e.g. {"page": 4}.')
    score = serializers.FloatField(help_text="Reciprocal-rank-fusion score; higher is better.")
    dense_rank = serializers.IntegerField(allow_null=True, help_text="Rank by embedding similarity, if ranked.")
    lexical_rank = serializers.IntegerField(allow_null=True, help_text="Rank by BM25, if ranked.")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    settings = serializers.DictField(help_text="The retrieval settings that produced these results.")


@extend_schema(
    operation_id="search",
    request=SearchRequestSerializer,
    responses={200: SearchResponseSerializer},
    summary="Search the passages you may read",
)
@api_view(["POST"])
def search_view(request: Request) -> Response:
    """The best passages for a query among the documents the caller may read."""
    incoming = SearchRequestSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    data = incoming.validated_data
    document_ids = data.get("document_ids")
    results = search(
        user=request.user,
        query=data["query"],
        k=data.get("k", settings.RETRIEVAL_DEFAULT_K),
        filters=SearchFilters(document_ids=tuple(document_ids)) if document_ids else None,
    )
    outgoing = SearchResponseSerializer({"results": list(results), "settings": results.describe()})
    return Response(outgoing.data)
