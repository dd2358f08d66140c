"""``python demo/manage.py seed [--rows N]``: create the database if needed and (re)seed it."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from demo.databases import describe_database
from demo.myapp.provisioning import ProvisioningError, provision_database
from demo.myapp.seed_data import DEFAULT_ROW_COUNT


class Command(BaseCommand):
    help = f"Migrate the demo database and replace its rows with N deterministic rows (default {DEFAULT_ROW_COUNT})."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=DEFAULT_ROW_COUNT, help="number of rows to seed")

    def handle(self, *args: Any, rows: int, **options: Any) -> None:
        if rows < 1:  # an empty table would be seeded again by the next server start
            raise CommandError("--rows must be >= 1")
        try:
            provision_database(rows=rows, replace_rows=True)
        except ProvisioningError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"seeded {rows} rows into {describe_database(settings.DATABASES[DEFAULT_DB_ALIAS])}")
