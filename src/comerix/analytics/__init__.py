"""The Analytics Hub: rollups kept by ingestion, the summary report, the CSV export and the OData feed."""
