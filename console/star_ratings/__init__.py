"""The Star Ratings console: admin pages for a contract's rating, forecasts, scenarios and plans.

Server-rendered pages inside the admin site (same login, same contract scoping, same look);
each page module holds its views and its `urlpatterns`, gathered by `console.star_ratings.urls`.
Charts are Chart.js configurations built here in Python and drawn by `console/charts.js`.
"""
