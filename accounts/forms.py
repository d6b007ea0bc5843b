"""Forms for the account pages."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

# Lifetimes offered in the token form, in days; 0 means the token never expires.
TOKEN_LIFETIME_CHOICES = [(30, "30 days"), (90, "90 days"), (365, "1 year"), (0, "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “laptop script”.")
    lifetime_days = forms.TypedChoiceField(choices=TOKEN_LIFETIME_CHOICES, coerce=int, initial=90, label="Expires in")

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data["lifetime_days"]
        return timezone.now() + timedelta(days=days) if days else None
