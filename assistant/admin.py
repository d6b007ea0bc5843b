"""Admin for chat: prompt versions (immutable; add a new one), labels (moving one is a release or a
rollback, recorded in the label history), and conversations, messages and feedback (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from assistant.audit.models import Action
from assistant.audit.services import record_event
from assistant.evals.gate import release_verdict
from assistant.evals.selectors import with_last_eval_score
from assistant.evals.services import create_case_from_feedback
from assistant.models import Conversation, Feedback, Message, PromptLabel, PromptLabelMove, PromptVersion
from assistant.prompts import PRODUCTION, create_prompt_version, move_label, validate_template


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PromptVersionForm(forms.ModelForm):
    class Meta:
        model = PromptVersion
        fields = [
            "name",
            "system_template",
            "user_template",
            "route",
            "temperature",
            "max_output_tokens",
            "context_window_tokens",
            "commit_message",
        ]

    def clean_user_template(self) -> str:
        value: str = self.cleaned_data["user_template"]
        validate_template(value)
        return value


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """Existing versions are read-only; "Add" creates the next version of a prompt. No label moves here."""

    form = PromptVersionForm
    list_display = [
        "__str__",
        "route",
        "temperature",
        "max_output_tokens",
        "commit_message",
        "author",
        "created_at",
        "last_eval_score",
    ]
    list_filter = ["name", "route"]
    search_fields = ["commit_message", "system_template", "user_template"]
    readonly_fields = ["version", "author", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromptVersion]:
        return with_last_eval_score(super().get_queryset(request))

    @admin.display(description="last eval score", ordering="last_eval_score")
    def last_eval_score(self, obj: PromptVersion) -> str:
        score = getattr(obj, "last_eval_score", None)
        return "-" if score is None else f"{score:.3f}"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PromptVersion, form: Any, change: bool) -> None:
        assert isinstance(request.user, User)
        data = form.cleaned_data
        created = create_prompt_version(
            name=data["name"],
            system_template=data["system_template"],
            user_template=data["user_template"],
            commit_message=data["commit_message"],
            author=request.user,
            route=data["route"],
            temperature=data["temperature"],
            max_output_tokens=data["max_output_tokens"],
            context_window_tokens=data["context_window_tokens"],
        )
        obj.pk = created.pk
        obj.version = created.version


class PromptLabelForm(forms.ModelForm):
    note = forms.CharField(required=False, max_length=500, help_text="Why this release or rollback.")
    force = forms.BooleanField(
        required=False, help_text="Release even though the eval gate refuses it (recorded in the label history)."
    )

    class Meta:
        model = PromptLabel
        fields = ["name", "label", "version"]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        version = data.get("version")
        if version is not None and data.get("name") and version.name != data["name"]:
            raise forms.ValidationError("The version must be a version of the same prompt.")
        label = data.get("label") or (self.instance.label if self.instance.pk else "")
        if version is not None and label == PRODUCTION and not data.get("force"):
            current = self.instance.version if self.instance.pk else None
            verdict = release_verdict(current=current, candidate=version)
            if not verdict.allowed:
                raise forms.ValidationError(
                    f"Release refused by the eval gate: {verdict.reason}. Tick force to override."
                )
        return data


@admin.register(PromptLabel)
class PromptLabelAdmin(admin.ModelAdmin):
    """Pointing a label at another version is the release (or the rollback); every move is recorded."""

    form = PromptLabelForm
    list_display = ["__str__", "version", "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, "name", "label"] if obj is not None else list(self.readonly_fields)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PromptLabel, form: Any, change: bool) -> None:
        assert isinstance(request.user, User)
        moved = move_label(
            version=form.cleaned_data["version"],
            label=obj.label,
            moved_by=request.user,
            note=form.cleaned_data.get("note", ""),
            force=bool(form.cleaned_data.get("force")),
        )
        obj.pk = moved.pk


@admin.register(PromptLabelMove)
class PromptLabelMoveAdmin(ReadOnlyAdmin):
    list_display = ["moved_at", "name", "label", "from_version", "to_version", "moved_by", "note"]
    list_filter = ["name", "label"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "status", "content", "prompt_version", "route", "model_id", "label", "created_at"]
    readonly_fields = ["role", "status", "content", "prompt_version", "route", "model_id", "label", "created_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["title", "owner", "channel", "created_at", "updated_at"]
    list_filter = ["channel"]
    search_fields = ["title", "owner__username"]
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("owner")

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        # Reading someone's conversation is itself audited (issue 8).
        record_event(action=Action.ADMIN_VIEW, actor=request.user, target_type="conversation", target_id=object_id)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["pk", "conversation", "role", "status", "prompt_version", "route", "model_id", "created_at"]
    list_filter = ["role", "status", "route"]
    readonly_fields = [
        "conversation",
        "role",
        "status",
        "content",
        "reply_to",
        "prompt_version",
        "route",
        "model_id",
        "deployment",
        "label",
        "error_class",
        "input_tokens",
        "output_tokens",
        "retrieval_settings",
        "invalid_citations",
        "request_id",
        "created_at",
    ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        record_event(action=Action.ADMIN_VIEW, actor=request.user, target_type="message", target_id=object_id)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Feedback)
class FeedbackAdmin(ReadOnlyAdmin):
    list_display = ["message", "user", "rating", "comment", "created_at"]
    list_filter = ["rating"]
    actions = ["make_eval_cases"]

    @admin.action(description="Turn thumbs-down answers into eval cases", permissions=["make_eval_case"])
    def make_eval_cases(self, request: HttpRequest, queryset: QuerySet[Feedback]) -> None:
        made = [create_case_from_feedback(feedback=f) for f in queryset.filter(rating=Feedback.Rating.DOWN)]
        self.message_user(request, f"{len(made)} eval case(s) in suite 'feedback': add expected facts to them.")

    def has_make_eval_case_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("evals.add_evalcase")
