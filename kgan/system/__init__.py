"""The machine kgan runs on: its CPU and backend, versions and devices, the provenance a run
or export records, and work spread over worker processes."""
