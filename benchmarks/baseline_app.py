"""The latency baseline: a minimal FastAPI endpoint calling the same model (blend).

No auth, no validation beyond a dict lookup, no logging, no metrics: the floor that
Foresight's own endpoint is compared with. Started by ``benchmarks/run.py``.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
from fastapi import FastAPI, Request

with open(os.environ["BASELINE_ARTIFACT"], "rb") as handle:
    MODEL = pickle.load(handle)
SIG = MODEL.signature
CODES = [
    {cat: float(i) for i, cat in enumerate(c.categories)} if c.kind == "categorical" else None
    for c in SIG.columns
]
NAMES = SIG.names
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> dict[str, Any]:
    features = (await request.json())["features"]
    row = np.array(
        [
            [
                codes[str(features[n])] if codes else float(features[n])
                for n, codes in zip(NAMES, CODES)
            ]
        ]
    )
    # The blend's own batch path: each member's TreeSHAP / linear terms, weighted.
    contrib = MODEL.contributions(row)[0, 0]
    p = MODEL.calibration.probability(np.array([contrib.sum()]))[0]
    top = np.argsort(-np.abs(contrib[:-1]))[:5]
    return {"churn_probability": float(p), "top": [NAMES[i] for i in top]}
