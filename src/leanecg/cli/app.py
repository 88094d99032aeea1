"""The typer app: every command registered, in the order ``leanecg --help`` lists them."""

from __future__ import annotations

import typer

from leanecg.cli import bench, data, explain, infer, models, quickstart, score, serve, stream, study, train

app = typer.Typer(
    name="leanecg",
    help="Efficient ECG arrhythmia classification: fewer leads, smaller models, fewer labels.\n\n"
    "Bad input: one line `error: <file>: <problem>`, exit code 2. Ctrl-C or SIGTERM: `interrupted`, exit code "
    "130 / 143; the output file being written is discarded (an older file of that name is left as it was), "
    "files already completed are kept.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Find, list and download datasets.", no_args_is_help=True)
score_app = typer.Typer(
    help="Score predictions exactly as the official challenges (and EC57 for beats) do.", no_args_is_help=True
)
study_app = typer.Typer(
    help="The seeded studies (label efficiency, few-shot, noisy labels): seeds run in separate calls merge "
    "into one results file.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(score_app, name="score")
app.add_typer(study_app, name="study")

app.command()(quickstart.quickstart)
app.command()(data.info)
app.command()(data.rpeaks)
app.command()(bench.bench)
app.command()(infer.predict)
app.command()(infer.beats)
app.command()(explain.explain)
app.command()(models.models)
app.command("export")(train.export_model)
app.command()(stream.stream)
app.command()(serve.serve)
app.command("compress")(train.compress_cmd)
app.command()(train.ensemble)
app.command()(train.pretrain)
data_app.command("list")(data.data_list)
data_app.command("fetch")(data.data_fetch)
score_app.command("cinc2021")(score.score_cinc2021)
score_app.command("cinc2017")(score.score_cinc2017)
score_app.command("beats")(score.score_beats)
study_app.command("labels")(study.labels)
study_app.command("fewshot")(study.fewshot)
study_app.command("noisy-labels")(study.noisy_labels)
