"""Install-time step: export the embedding model to ONNX (fp32 and int8) for the onnx backends."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from retrieval.embeddings import export_onnx_models, onnx_model_path


class Command(BaseCommand):
    help = "Export EMBEDDING_MODEL to ONNX and an int8-quantized ONNX under EMBEDDING_ONNX_DIR (offline)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--force", action="store_true", help="Export again even if the files exist.")

    def handle(self, *args: Any, **options: Any) -> None:
        model = settings.EMBEDDING_MODEL
        existing = [onnx_model_path(model, variant) for variant in ("onnx", "onnx-int8")]
        if not options["force"] and all(path.is_file() for path in existing):
            self.stdout.write(f"ONNX exports of {model} are present in {existing[0].parent}.")
            return
        for variant, path in export_onnx_models(model).items():
            self.stdout.write(f"{variant}: {path} ({path.stat().st_size // 1024} KB)")
