"""The gateway's failure classes. Each has a logged name and a message a user may read; raw provider errors
never leave the gateway."""

from __future__ import annotations


class GatewayError(Exception):
    """Base class. ``retryable``: worth retrying on the same deployment; ``fallback``: worth trying the next
    deployment; ``breaker``: counts as a failure of the deployment for its circuit breaker."""

    error_class = "gateway_error"
    user_message = "The assistant could not answer right now. Please try again in a moment."
    retryable = False
    fallback = True
    breaker = False

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail or self.error_class)
        self.detail = detail
        self.retry_after = retry_after


class ProviderTimeout(GatewayError):
    error_class = "timeout"
    user_message = "The language model took too long to answer. Please try again."
    retryable = True
    breaker = True


class ProviderRateLimited(GatewayError):
    error_class = "rate_limited"
    user_message = "The language model is busy right now. Please try again in a minute."
    retryable = True
    breaker = True


class ProviderOutage(GatewayError):
    """5xx answers and network failures."""

    error_class = "outage"
    user_message = "The language model is unavailable right now. Please try again later."
    retryable = True
    breaker = True


class ContextTooLong(GatewayError):
    error_class = "context_too_long"
    user_message = "The question and its documents are too long for the model. Try a shorter question."


class ContentFiltered(GatewayError):
    error_class = "content_filtered"
    user_message = "The model declined to answer this question. Try rephrasing it."
    fallback = False


class MalformedOutput(GatewayError):
    error_class = "malformed_output"
    user_message = "The language model sent an answer Docent could not read. Please try again."
    breaker = True


class ProviderMisconfigured(GatewayError):
    """Bad key, unknown model, refused request: an operator must act; the next deployment may still work."""

    error_class = "misconfigured"
    user_message = "The language model is not configured correctly. An administrator has been notified."


class StreamInterrupted(GatewayError):
    error_class = "stream_interrupted"
    user_message = "The answer was cut off because the connection to the language model was lost."
    fallback = False
    breaker = True


class BreakerOpen(GatewayError):
    error_class = "breaker_open"
    user_message = "The language model is unavailable right now. Please try again later."


class BudgetExhausted(GatewayError):
    error_class = "budget_exhausted"
    user_message = "The usage budget for the assistant has been reached. It resets at the start of the next period."
    fallback = False


class RouteUnavailable(GatewayError):
    """Every deployment of the route failed or was skipped."""

    error_class = "unavailable"
    user_message = "The assistant is unavailable right now. Please try again later."
    fallback = False


class UnknownRoute(GatewayError):
    error_class = "unknown_route"
    user_message = "The assistant is not configured for this kind of request."
    fallback = False
