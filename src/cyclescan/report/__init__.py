"""The HTML report of a run: ``figures`` (matplotlib PNGs) and ``html.build_report`` (jinja2).

See docs/evaluation.md.
"""
