"""``batchpipe contract infer|check``: propose a contract from a file, check a file against one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

contract_app = typer.Typer(
    name="contract",
    help="Propose a dataset contract from a file, or check a file against a contract.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


@contract_app.command()
def infer(
    file: FileArg,
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name (snake_case)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the YAML here (default: stdout)")
    ] = None,
    sample_rows: Annotated[
        int, typer.Option("--sample-rows", min=1, help="Data rows read to infer from")
    ] = 10_000,
) -> None:
    """Propose a contract for FILE (CSV, JSON Lines or Parquet, gzip or not), with a comment
    on each inferred choice. Review it, then save it as contracts/NAME.yaml to register it."""
    from batchpipe_cli.console import console, fail
    from batchpipe_cli.infer.propose import infer_contract
    from batchpipe_cli.infer.sample import SampleError, read_sample
    from batchpipe_common.contracts import ContractError

    try:
        text, _contract = infer_contract(read_sample(file, sample_rows), name, file)
    except (SampleError, ContractError) as exc:
        fail(f"{file}: {exc}")
    if out is None:
        console.out(text, end="", highlight=False)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}", highlight=False)


def _contract_for(dataset: str | None, contract_file: Path | None) -> object:
    from batchpipe_cli.console import fail
    from batchpipe_cli.stack.config import contracts_dir
    from batchpipe_common.contracts import ContractError, load_contracts, parse_contract

    try:
        if contract_file is not None:
            return parse_contract(contract_file.read_text(encoding="utf-8"), str(contract_file))
        contracts = load_contracts(contracts_dir())
    except ContractError as exc:
        fail(str(exc))
    if dataset not in contracts:
        fail(f"unknown dataset {dataset!r}; registered: {', '.join(sorted(contracts))}")
    return contracts[dataset]


@contract_app.command()
def check(
    file: FileArg,
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Registered dataset to check against")
    ] = None,
    contract_file: Annotated[
        Path | None,
        typer.Option("--contract", "-c", exists=True, dir_okay=False, help="Contract file"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Dry run of the producer on FILE: rows read, valid, rejected and the first rejects per
    column, nothing uploaded or loaded. Exit 0 when no row would be rejected, 1 otherwise."""
    import json

    from batchpipe_cli.console import console, fail
    from batchpipe_cli.infer.check import check_file
    from batchpipe_common.contracts import Contract

    if (dataset is None) == (contract_file is None):
        fail("give exactly one of --dataset NAME or --contract FILE")
    contract = _contract_for(dataset, contract_file)
    assert isinstance(contract, Contract)
    outcome = check_file(contract, file)
    if as_json:
        console.out(json.dumps({"dataset": contract.name, **outcome.as_dict()}), highlight=False)
    else:
        _print(contract.name, outcome)
    raise typer.Exit(0 if outcome.clean else 1)


def _print(dataset: str, outcome: object) -> None:
    from batchpipe_cli.console import console
    from batchpipe_cli.infer.check import Outcome

    assert isinstance(outcome, Outcome)
    say = console.print
    if outcome.failure:
        say(f"{dataset}: the file would fail as a whole: {outcome.failure}", highlight=False)
        return
    say(
        f"{dataset}: rows read {outcome.rows_read}, valid {outcome.rows_valid}, "
        f"rejected {outcome.rows_rejected}",
        highlight=False,
    )
    for column, rejects in outcome.rejects.items():
        say(f"  {column}: {outcome.reject_counts[column]} rejected, first:", highlight=False)
        for reject in rejects:
            say(
                f"    row {reject['row']}: {reject['value']!r}: {reject['reason']}", highlight=False
            )
    if outcome.clean:
        say("passes: no row would be rejected", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(contract_app)
