"""`civichub portal_certificate_key`: makes the deployment's certificate signing key (Ed25519,
in the data directory's keys/, readable by the owner only) if there is none, and prints its
identifier and public key, to publish beside the verification page. An existing key is kept:
certificates already issued stay verifiable."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from civichub.portal import certificates


class Command(BaseCommand):
    help = "Create the certificate signing key if missing; print its id and public key."

    def handle(self, *args: Any, **options: Any) -> None:
        existed = certificates.key_path().exists()
        public = certificates.signing_key().public_key()
        self.stdout.write(
            f"{'kept' if existed else 'created'}: {certificates.key_path()}\n"
            f"key id: {certificates.key_id(public)}\n"
        )
        self.stdout.write(certificates.public_key_pem().decode())
