"""PostgreSQL COPY helpers shared by the bulk write paths (gap import, prediction ingest)."""


def copy_text(value: str) -> str:
    """A text value escaped for COPY's text format (backslash, tab, newline, carriage return)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
