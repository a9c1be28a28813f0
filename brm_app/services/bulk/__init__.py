"""Bulk data: CSV import and export of firms and traders.

One CSV format per kind serves both directions (an export re-imports unchanged):
- csv_format: the columns, reading untrusted files (encoding, delimiter, limits), header mapping;
- importing: every row through the same schemas and services as the API, in chunks;
- exporting: every row the actor may see under the list filters, streamed page by page;
- staging: uploaded files kept for their owner under the data dir until imported.
"""

from brm_app.services.bulk.csv_format import (
    COLUMNS,
    FIRM_COLUMNS,
    TRADER_COLUMNS,
    CsvFile,
    Kind,
    check_mapping,
    parse,
    suggest_mapping,
)
from brm_app.services.bulk.exporting import (
    check_export,
    export_firms_csv,
    export_traders_csv,
)
from brm_app.services.bulk.importing import (
    ImportReport,
    RowIssue,
    active_broker_id,
    import_csv,
    rejected_rows_csv,
)

__all__ = [
    "COLUMNS",
    "FIRM_COLUMNS",
    "TRADER_COLUMNS",
    "CsvFile",
    "ImportReport",
    "Kind",
    "RowIssue",
    "active_broker_id",
    "check_export",
    "check_mapping",
    "export_firms_csv",
    "export_traders_csv",
    "import_csv",
    "parse",
    "rejected_rows_csv",
    "suggest_mapping",
]
