"""Locust user for benchmarks/serving.py: a closed loop of POSTs, no think time.

BENCH_ROUTE is /predict or /predict_batch, BENCH_BODY the JSON file to send.
"""

import os
from pathlib import Path

from locust import FastHttpUser, constant, task

ROUTE = os.environ["BENCH_ROUTE"]
BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
HEADERS = {"content-type": "application/json"}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def post(self) -> None:
        self.client.post(ROUTE, data=BODY, headers=HEADERS)
