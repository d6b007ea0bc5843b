"""The upload form of /documents/ (the page's script posts the same fields to the API, file by file)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True, "id": "file-input"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class UploadForm(forms.Form):
    uploads = MultipleFileField(label="Files")
    public = forms.BooleanField(required=False, label="Public to all employees")
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"), required=False, to_field_name="name", label="Groups"
    )


class AccessForm(forms.Form):
    """Who may read a document (the detail page); people it is shared with are kept as they are."""

    public = forms.BooleanField(required=False, label="Public to all employees")
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"), required=False, to_field_name="name", label="Groups"
    )
