"""The search page: a plain search box over the passages the user may read, without chat."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from retrieval.forms import SearchForm
from retrieval.search import search


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    results = None
    if form.is_valid():
        results = search(user=request.user, query=form.cleaned_data["q"], k=settings.RETRIEVAL_DEFAULT_K)
    return render(request, "retrieval/search.html", {"form": form, "results": results})
