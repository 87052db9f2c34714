"""English as Shifa writes it for Jordan: the same dates, clock and numbers as the Arabic pages ("14 March 1985",
24-hour, "38.4"), with Django's English input formats."""

from django.conf.locale.en.formats import DATE_INPUT_FORMATS, DATETIME_INPUT_FORMATS, TIME_INPUT_FORMATS  # noqa: F401

from shifa.formats.ar.formats import *  # noqa: F403
