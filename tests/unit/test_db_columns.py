"""The plain list of the ``jobs`` columns (read without the ORM) is the model's."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean

from mediaferry.db.columns import JOB_COLUMNS
from mediaferry.db.models import Job, UTCDateTime


def test_job_columns_match_the_model_in_order_and_kind() -> None:
    def kind(column: object) -> str:
        type_ = column.type  # type: ignore[attr-defined]
        if isinstance(type_, UTCDateTime):
            return "datetime"
        if isinstance(type_, JSON):
            return "json"
        return "bool" if isinstance(type_, Boolean) else ""

    assert list(JOB_COLUMNS) == [(c.name, kind(c)) for c in Job.__table__.columns]
