"""Planning: forecasts, what-if scenarios and optimizer runs, fed from the database to `ratings.portfolio`."""
