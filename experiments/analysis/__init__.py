"""What the runs mean: statistics, summaries, the report, validation against the stylized facts, sensitivity
analysis and the EMA Workbench adapter."""
