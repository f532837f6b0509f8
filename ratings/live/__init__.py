"""Live Star Ratings of the plan's contracts from their gaps, analysts' rating inputs, snapshots."""
