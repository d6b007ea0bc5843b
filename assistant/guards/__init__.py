"""Guards around the chat turn: prompt-injection screening of passages (``injection``), checks on what the
model wrote (``output_checks``) and PII/secret redaction (``redaction``). Plain functions, no models."""
