"""``python demo/manage.py seed [--rows N]``: create the database if needed and (re)seed it."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from demo.databases import describe_database
from demo.myapp.provisioning import ProvisioningError, provision_database
from demo.myapp.seed_data import MAX_ROW_COUNT


class Command(BaseCommand):
    help = "Migrate the demo database and replace its rows with N deterministic rows (default: DEMO_ROWS, 100)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--rows", type=int, default=None, help=f"number of rows to seed, 0 to {MAX_ROW_COUNT}")

    def handle(self, *args: Any, rows: int | None, **options: Any) -> None:
        rows = settings.DEMO_ROWS if rows is None else rows
        if not 0 <= rows <= MAX_ROW_COUNT:
            raise CommandError(f"--rows must be >= 0 and <= {MAX_ROW_COUNT}, got {rows}")
        try:
            provision_database(rows=rows, replace_rows=True)
        except ProvisioningError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"seeded {rows} rows into {describe_database(settings.DATABASES[DEFAULT_DB_ALIAS])}")
