"""What the runs mean: statistics, summaries, the report, validation against the stylized facts, sensitivity
analysis, the EMA Workbench adapter and the facts check."""
