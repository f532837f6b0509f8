"""REST API of the ratings app, one module per resource (routes in `ratings.urls`)."""
