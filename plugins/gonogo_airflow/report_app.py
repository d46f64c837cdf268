"""The run's Go/No-Go report, served by Airflow's API server under /gonogo (a plugin FastAPI app).

Plugin endpoints are not protected by Airflow on their own: every route here asks Airflow's auth
manager whether the caller may read the DAG's runs, with the same token (the UI's cookie or a
bearer token) the UI and the REST API use.
"""

from __future__ import annotations

from html import escape

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from gonogo import artifacts
from gonogo.watching import watch_status

app = FastAPI(title="gonogo", description="Go/No-Go reports of gonogo rollouts", docs_url=None, redoc_url=None)

_NOT_YET = """<!doctype html><meta charset="utf-8"><title>No report yet</title>
<body style="font-family: system-ui, sans-serif; margin: 2rem">
<h1>No Go/No-Go report yet</h1><p>Run <code>{run}</code> of <code>{dag}</code> has no report yet: it is written
when <code>decide.evaluate_gates</code> runs (after the staging rehearsal), and again when the run ends.
A run that stopped earlier (a malformed batch, an unreachable database) says why in the log of its failed
task.</p></body>"""


@app.get("/reports/{dag_id}/{run_id}", response_class=HTMLResponse,
         dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))])
def report(dag_id: str, run_id: str) -> HTMLResponse:
    folder = artifacts.run_path(dag_id, run_id)
    page = folder / "report.html"
    if not page.is_file():
        return HTMLResponse(_NOT_YET.format(dag=escape(dag_id), run=escape(run_id)), status_code=404)
    # a running watch window's time left, counted now, above the report
    return HTMLResponse(watch_status.banner(page.read_text(encoding="utf-8"), watch_status.read(folder)))
