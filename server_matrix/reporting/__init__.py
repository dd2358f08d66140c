"""Reporting: results.json on disk, report.md, the chart, and the comparison's text.

Reading results.json (checked against its schema) and writing it, the report's parts (findings,
summary, context, the notes' layout), how numbers are written, the chart, and ``compare``'s
markdown and JSON. The top layer below the command: imports every other room, none imports it
(the runner is handed its save function).
"""
