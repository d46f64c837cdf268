"""gonogo's Airflow plugin: the Go/No-Go report as a tab of every run of a gonogo DAG."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class _ReportApp:
    """The report app (gonogo_airflow.report_app), built on its first request. Every Airflow
    process loads plugins, task runners included; only the API server ever serves a request,
    so only it pays the second it takes to import FastAPI's security stack."""

    def __init__(self):
        self._app = None

    async def __call__(self, scope, receive, send):
        if self._app is None:
            from gonogo_airflow.report_app import app

            self._app = app
        await self._app(scope, receive, send)


class GonogoPlugin(AirflowPlugin):
    name = "gonogo"
    fastapi_apps = [{"app": _ReportApp(), "url_prefix": "/gonogo", "name": "gonogo reports"}]
    # A "Go/No-Go report" tab on the run page; the UI fills in {DAG_ID} and {RUN_ID} and loads
    # the relative href from the API server, so the browser's login cookie comes along.
    external_views = [{"name": "Go/No-Go report", "href": "gonogo/reports/{DAG_ID}/{RUN_ID}",
                       "destination": "dag_run", "url_route": "gonogo_report"}]
