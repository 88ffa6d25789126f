"""CLI of the closed loop: `retrain`, `model promote|register|rollback|status`, `triage
export-decisions`.

The store's decisions leave through `live.labels`; retraining is `model.retrain`, the alias
moves are `model.registry`'s, the status is `model.loop_state`'s. Errors are TriageErrors
(one `error:` line, exit 2). `retrain` exits 0 whether or not it promoted (the report says
which), 2 when it refuses (too few new labels, one class, bad options).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tweet_triage.config import load_settings
from tweet_triage.logs import configure_logging

if TYPE_CHECKING:
    from tweet_triage.live.store import TriageStore

model_app = typer.Typer(
    no_args_is_help=True, help="The champion model: register, promote, roll back."
)


def _store() -> TriageStore:
    from tweet_triage.live.store import TriageStore

    store = TriageStore.from_settings(load_settings())
    store.migrate()
    return store


def retrain(
    min_new_labels: Annotated[
        int, typer.Option(min=0, help="Refuse with fewer new inbox labels since the last run.")
    ] = 50,
    margin: Annotated[
        float, typer.Option(help="How much the challenger must beat the champion by.")
    ] = 0.005,
    selection_metric: Annotated[
        str, typer.Option(help="pr_auc, roc_auc, f2 or f1 on the comparison tweets.")
    ] = "pr_auc",
    eval_share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of ids held out for evaluation.")
    ] = 0.2,
    bootstrap: Annotated[int, typer.Option(min=10, help="Bootstrap resamples.")] = 500,
    force: Annotated[bool, typer.Option("--force", help="Retrain below the minimum.")] = False,
    budget: Annotated[str | None, typer.Option(help="Training budget: demo or full.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Training: stop after N steps.")] = None,
    train_sample_size: Annotated[
        int | None, typer.Option(help="Training: class-stratified sample of N tweets.")
    ] = None,
    max_train_seconds: Annotated[
        float | None, typer.Option(help="Training: stop after N seconds.")
    ] = None,
    max_eval_samples: Annotated[
        int | None, typer.Option(help="Training: validate on N val tweets.")
    ] = None,
) -> None:
    """Train a challenger on every label so far; promote it only when it proves better."""
    from tweet_triage.live.labels import decisions_with_text
    from tweet_triage.model.retrain import RetrainOptions
    from tweet_triage.model.retrain import retrain as run_retrain

    settings = load_settings()
    configure_logging(settings)
    train_options = {
        "budget": budget,
        "max_steps": max_steps,
        "train_sample_size": train_sample_size,
        "max_train_seconds": max_train_seconds,
        "max_eval_samples": max_eval_samples,
    }
    options = RetrainOptions(
        min_new_labels=min_new_labels,
        margin=margin,
        selection_metric=selection_metric,
        eval_share=eval_share,
        n_bootstrap=bootstrap,
        force=force,
        train_options={k: v for k, v in train_options.items() if v is not None},
    )
    report = run_retrain(settings, decisions_with_text(_store()), options)
    typer.echo(
        f"{report['decision']}: {report['why']} (champion {report['champion_after']}, report "
        f"{Path(settings.reports_dir) / 'retrain' / 'latest.md'})"
    )


@model_app.command()
def promote(
    version: Annotated[
        str, typer.Option("--version", help="Registered model version to make champion.")
    ],
) -> None:
    """Make version N the champion (the live scorer and inbox switch at their next check)."""
    from tweet_triage.model.registry import promote as run_promote

    moved = run_promote(load_settings(), version)
    typer.echo(f"champion: version {moved['champion']} (was {moved['previous']})")


@model_app.command("register")
def register_model(
    folder: Annotated[Path, typer.Argument(help="A model folder `train` wrote.")],
) -> None:
    """Register a model folder as a new version (champion when there is none yet)."""
    from tweet_triage.model.registry import register_folder

    version, champion = register_folder(load_settings(), folder)
    typer.echo(f"registered version {version}; champion: version {champion}")


@model_app.command()
def rollback() -> None:
    """Give the champion back to the version that held it before."""
    from tweet_triage.model.registry import rollback as run_rollback

    moved = run_rollback(load_settings())
    typer.echo(f"champion: version {moved['champion']} (rolled back from {moved['previous']})")


@model_app.command()
def status() -> None:
    """Champion version and age, the last retrain, labels gathered since (JSON)."""
    from tweet_triage.model.loop_state import read_loop_status
    from tweet_triage.model.registry import champion_version

    settings = load_settings()
    status = read_loop_status(
        settings.state_dir, champion_version(settings), _store().count_decided_tweets()
    )
    typer.echo(json.dumps(status.as_dict(), indent=2, default=str))


def export_decisions(
    output: Annotated[
        Path | None,
        typer.Option(help="CSV to write; default DATA_DIR/labels/decisions.csv (read by label)."),
    ] = None,
) -> None:
    """Write every inbox decision (who, when) as needs-support labels for `label`."""
    from tweet_triage.live.labels import write_decisions_csv

    settings = load_settings()
    target = output or Path(settings.data_dir) / "labels" / "decisions.csv"
    rows = write_decisions_csv(_store(), target)
    typer.echo(f"{rows} decision(s) -> {target}")


def register(app: typer.Typer, triage_app: typer.Typer) -> None:
    app.command("retrain")(retrain)
    app.add_typer(model_app, name="model")
    triage_app.command("export-decisions")(export_decisions)
