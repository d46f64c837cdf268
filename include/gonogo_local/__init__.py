"""The local development stack: throwaway PostgreSQL clusters (cluster) and a stand-in for
Slack's Web API (slack). The demo, `make ui`, the tests and the benchmarks use it; the product
(the gonogo package, the DAG, the Airflow adapter's task code) never imports it, and `pip install .`
does not install it."""
