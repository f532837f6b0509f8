"""CMS's national benchmark: importing the published Star Ratings data tables, reading and verifying them."""
