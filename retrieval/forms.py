from __future__ import annotations

from django import forms


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", max_length=2000, strip=True)
