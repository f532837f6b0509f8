"""Pure-Python core of the CMS Medicare Part C & D Star Ratings engine (no Django).

- `tables`: parse CMS Star Ratings data-table CSVs (recognised by content).
- `methodology`: a star year's measure catalog and constants, shipped as `data/<year>.json`.
- `lineage`: measure identity across star years (each year's IDs to its measures, by name).
- `engine`: measure stars, Part C / Part D summary and overall ratings.
- `verify`: reproduce CMS's published ratings from its own tables and explain differences.
"""

from ratings.cms.engine import ContractProfile, ContractRatings, RatingResult, RatingType, rate_contract
from ratings.cms.methodology import Methodology, MethodologyNotAvailable, RatedAs
from ratings.cms.tables import CmsTableError, CmsTables, load_tables, parse_file
from ratings.cms.verify import VerificationReport, profile_from_tables, verify

__all__ = [
    "CmsTableError",
    "CmsTables",
    "ContractProfile",
    "ContractRatings",
    "Methodology",
    "MethodologyNotAvailable",
    "RatedAs",
    "RatingResult",
    "RatingType",
    "VerificationReport",
    "load_tables",
    "parse_file",
    "profile_from_tables",
    "rate_contract",
    "verify",
]
