"""``manage.py eval_answers [--cases FILE] [--suite demo] [--prompt-label staging] [--route chat]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.evals.loader import EvalSetInvalid, read_jsonl
from assistant.evals.models import EvalCase
from assistant.evals.services import EvalUserMissing, load_eval_cases, run_eval_suite
from assistant.prompts import PromptNotFound

DEMO_CASES = Path(settings.BASE_DIR) / "demo" / "evals" / "answers.jsonl"


class Command(BaseCommand):
    help = "Run the eval set through the real chat pipeline, score it and store an EvalRun."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=Path, help="Load (create or update) cases from this JSONL file first.")
        parser.add_argument("--suite", default="demo", help="Which eval set to run (default: demo).")
        parser.add_argument(
            "--prompt-label", default=None, help="Prompt label to evaluate (default: CHAT_PROMPT_LABEL)."
        )
        parser.add_argument("--route", default=None, help="Gateway route to answer with (default: the prompt's).")
        parser.add_argument("--no-judge", action="store_true", help="Skip the LLM-as-judge even if configured.")
        parser.add_argument("--min-score", type=float, default=None, help="Exit with an error below this score.")

    def handle(self, *args: Any, **options: Any) -> None:
        suite: str = options["suite"]
        path: Path | None = options["cases"]
        if path is None and suite == "demo" and not EvalCase.objects.filter(suite=suite).exists():
            path = DEMO_CASES
        try:
            if path is not None:
                count = load_eval_cases(cases=read_jsonl(path), suite=suite)
                self.stdout.write(f"Loaded {count} cases into suite {suite!r} from {path}.")
            run = run_eval_suite(
                suite=suite,
                prompt_label=options["prompt_label"],
                route=options["route"],
                use_judge=not options["no_judge"],
            )
        except (EvalSetInvalid, EvalUserMissing, PromptNotFound, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Eval run {run.pk}: suite {run.suite}, {run.prompt_version} ({run.prompt_label}), route {run.route}\n"
            f"  passed {run.passed_count}/{run.case_count}\n"
            f"  retrieval hit rate   {_f(run.retrieval_hit_rate)}\n"
            f"  citation precision   {_f(run.citation_precision)}\n"
            f"  fact recall          {_f(run.fact_recall)}\n"
            f"  refusal correctness  {_f(run.refusal_correctness)}\n"
            f"  permission correct.  {_f(run.permission_correctness)}\n"
            f"  judge                {_f(run.judge_score)}\n"
            f"  score                {_f(run.score)}"
        )
        for result in run.results.filter(passed=False):
            self.stdout.write(f"  FAIL {result.case_key}: {'; '.join(result.failures)}")
        if options["min_score"] is not None and (run.score or 0.0) < options["min_score"]:
            raise CommandError(f"score {_f(run.score)} is below --min-score {options['min_score']}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
