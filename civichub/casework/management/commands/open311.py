"""`civichub open311`: Open311 API keys for client applications.

    civichub open311 create-key --name fixmystreet   # prints the key, once
    civichub open311 revoke-key --name fixmystreet
    civichub open311 list-keys

Only a hash of a key is stored, so a lost key cannot be shown again: revoke it and create a new
one. Issuing and revoking are audited as `system:cli`.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from civichub.casework.open311.keys import open311_key_create, open311_key_revoke, open311_keys
from civichub.core.context import acting
from civichub.core.errors import DomainError


class Command(BaseCommand):
    help = "Open311 API keys: create-key, revoke-key, list-keys."

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create-key", help="Issue a key and print it (shown once).")
        create.add_argument("--name", required=True, help="The client the key is for.")
        revoke = actions.add_parser("revoke-key", help="Revoke the active key of a client.")
        revoke.add_argument("--name", required=True, help="The client whose key to revoke.")
        actions.add_parser("list-keys", help="List keys (names and prefixes, never the keys).")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            # The command speaks English (its help and output are English), so the services'
            # messages, Chinese source strings, are reported in English as well.
            with acting(channel="cli"), translation.override("en"):
                if action == "create-key":
                    _key, secret = open311_key_create(actor=None, name=options["name"])
                    self.stdout.write(secret)
                elif action == "revoke-key":
                    key = open311_key_revoke(actor=None, name=options["name"])
                    self.stdout.write(f"revoked {key.name} ({key.prefix}…)")
                else:
                    for key in open311_keys():
                        state = "revoked" if key.revoked_at else "active"
                        used = key.last_used_at.isoformat() if key.last_used_at else "never"
                        self.stdout.write(f"{key.name}\t{key.prefix}…\t{state}\tlast used {used}")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
