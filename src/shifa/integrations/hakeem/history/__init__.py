"""Importing a patient's history from Hakeem (HK-3, issue 11).

With the patient's consent, a clinic's staff start an import (``actions.history_import_start``); a job
(``tasks.history_import``) finds the patient on Hakeem by national ID, reads everything Hakeem holds about them
(``Patient/<id>/$everything``) and files what our record can hold — chronic conditions, allergies, current
medicines, immunizations and vital signs — marked with the Hakeem resource they came from (``hakeem_ref``).
``reading`` turns FHIR resources into plain values (nothing there writes); ``actions`` files them; ``queries``
and ``summary`` say how an import went.
"""
