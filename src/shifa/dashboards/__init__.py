"""Dashboards (issue 12, PL-3): figures read from the other domains' tables and drawn as server-rendered SVG.

``queries`` reads (one grouped query per series, in the database), ``charts`` turns series into SVG markup (pure),
``policies`` says which blocks an actor may see. No model, no write: nothing here changes data.
"""
