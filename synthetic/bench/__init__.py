"""The plan-scale benchmark behind `manage.py bench`: a synthetic plan loaded with COPY, and figures.

`plan` loads (and drops) the dedicated benchmark contract, drawn by `synthetic.plan`; `timing`
measures with warm-up and repeats, `figures` measures each operation beside a baseline taken in
the same run, and `runner` ties them together and prints or writes the table. See
`docs/performance.md`.
"""
