"""Card data at rest: envelope encryption under a KMS data key, and card fingerprints.

A sealed blob is self-describing, so any instance with Decrypt on the KMS key can open it:

    version (1 byte, = 1) || len(edk) (2 bytes, big-endian) || edk || nonce (12) || ct+tag

The data key is AES-256-GCM; the GCM associated data is the blob header (version, length
and edk) followed by the caller's ``aad``, so neither can be swapped without the tag
failing. Plaintext data keys are cached in memory for a bounded time and number of uses,
as the AWS Encryption SDK's caching CMM does, to keep KMS off the hot path.

An aad made by :func:`aad_for` also names its merchant and token, and the vault sends them
to KMS as the encryption context of GenerateDataKey and Decrypt: the key policy requires it,
and CloudTrail then ties every use of the key to one merchant and token. A data key is
bound to its context, so each token gets its own data key (its card number, CVV and
cardholder data share it); the cache is keyed by key id *and* context.

No exception raised here carries plaintext, key material or ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.cards import digits_only

if TYPE_CHECKING:  # stubs only: not installed in the Lambda
    from mypy_boto3_kms import KMSClient

BLOB_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER_PREFIX_BYTES = 3  # version byte + 2-byte edk length
_MAX_EDK_BYTES = 0xFFFF

# KMS answers these when the edk itself is bad (tampered, or from another key): an
# integrity failure of the blob. AccessDenied is left out on purpose: in real KMS it
# usually means a policy or IAM mistake, which an operator must see as an outage.
_BAD_CIPHERTEXT_CODES = frozenset(
    {"InvalidCiphertextException", "IncorrectKeyException", "ValidationException"}
)

FINGERPRINT_CHARS = 22
_FINGERPRINT_DOMAIN = b"card-fingerprint/v1/"


class CardVaultError(Exception):
    """A blob could not be sealed or opened. The message is always generic."""


class KeyServiceError(CardVaultError):
    """KMS could not be reached or refused for a reason other than a bad ciphertext."""


# The KMS encryption-context keys; the key policy (pulumi/keys.py) requires exactly these.
CONTEXT_MERCHANT = "merchant_id"
# The fingerprint key's only algorithm: its key policy refuses any other (kms:MacAlgorithm).
MAC_ALGORITHM: Final = "HMAC_SHA_256"
CONTEXT_TOKEN = "token_id"

Context = tuple[tuple[str, str], ...]  # a hashable, ordered encryption context


class CardAad(bytes):
    """The GCM associated data of one field, which also knows its merchant and token.

    One value carries both bindings, so the GCM aad and the KMS encryption context can
    never name different records.
    """

    merchant_id: str
    token_id: str

    def __new__(cls, merchant_id: str, token_id: str, field: str) -> CardAad:
        parts = (merchant_id, token_id, field)
        # A separator inside a part would let two different triples share one aad.
        if any("|" in part for part in parts):
            raise ValueError("aad parts must not contain '|'")
        aad = super().__new__(cls, "|".join(("v1", *parts)).encode())
        aad.merchant_id, aad.token_id = merchant_id, token_id
        return aad

    @property
    def encryption_context(self) -> dict[str, str]:
        return {CONTEXT_MERCHANT: self.merchant_id, CONTEXT_TOKEN: self.token_id}


def aad_for(merchant_id: str, token_id: str, field: str) -> CardAad:
    """Associated data binding a ciphertext to one merchant, token and field."""
    return CardAad(merchant_id, token_id, field)


def _context_of(aad: bytes) -> Context:
    """The encryption context an aad names (none for plain bytes)."""
    if isinstance(aad, CardAad):
        return tuple(sorted(aad.encryption_context.items()))
    return ()


@dataclass
class _EncryptionKey:
    plaintext: bytes = field(repr=False)
    encrypted: bytes = field(repr=False)
    created: float
    uses: int = 0


@dataclass
class _DecryptionKey:
    plaintext: bytes = field(repr=False)
    created: float


class DataKeyCache:
    """In-memory cache of KMS data keys, bounded by age and uses; thread-safe.

    Encryption keys are per (KMS key id, encryption context) and are retired after
    ``max_uses`` seals or ``max_age_seconds``; at most ``max_encryption_keys`` are kept
    (LRU), since a context names one token and is not used again once it is sealed.
    Decrypted keys are kept per (key id, context, encrypted data key) in an LRU of
    ``max_decrypted_keys`` entries with the same age limit. Times are whatever clock the
    caller passes as ``now`` (seconds, monotonic).
    """

    def __init__(
        self,
        max_age_seconds: float = 300.0,
        max_uses: int = 1000,
        max_decrypted_keys: int = 256,
        max_encryption_keys: int = 64,
    ) -> None:
        if max_age_seconds <= 0 or min(max_uses, max_decrypted_keys, max_encryption_keys) < 1:
            raise ValueError("cache limits must be positive")
        self.max_age_seconds = max_age_seconds
        self.max_uses = max_uses
        self.max_decrypted_keys = max_decrypted_keys
        self.max_encryption_keys = max_encryption_keys
        self._encrypt_lock = threading.Lock()
        self._decrypt_lock = threading.Lock()
        self._encryption: OrderedDict[tuple[str, Context], _EncryptionKey] = OrderedDict()
        self._decryption: OrderedDict[tuple[str, Context, bytes], _DecryptionKey] = OrderedDict()

    def __repr__(self) -> str:
        return (
            f"DataKeyCache(max_age_seconds={self.max_age_seconds}, max_uses={self.max_uses}, "
            f"max_decrypted_keys={self.max_decrypted_keys})"
        )

    def _fresh(self, created: float, now: float) -> bool:
        return now - created < self.max_age_seconds

    def encryption_key(
        self,
        key_id: str,
        now: float,
        generate: Callable[[], tuple[bytes, bytes]],
        context: Context = (),
    ) -> tuple[bytes, bytes]:
        """A (plaintext, encrypted) data key for one seal, calling ``generate`` on a miss."""
        cache_key = (key_id, context)
        # Held across the KMS call on purpose: when a key retires under load, one thread
        # fetches the next one and the rest wait for it instead of each calling KMS.
        with self._encrypt_lock:
            entry = self._encryption.get(cache_key)
            if entry is None or entry.uses >= self.max_uses or not self._fresh(entry.created, now):
                plaintext, encrypted = generate()
                entry = _EncryptionKey(plaintext=plaintext, encrypted=encrypted, created=now)
                self._encryption[cache_key] = entry
                while len(self._encryption) > self.max_encryption_keys:
                    self._encryption.popitem(last=False)
                # Records sealed under this key can then be opened without a Decrypt.
                self._remember_decrypted(key_id, encrypted, plaintext, now, context)
            self._encryption.move_to_end(cache_key)
            entry.uses += 1
            return entry.plaintext, entry.encrypted

    def decryption_key(
        self,
        key_id: str,
        encrypted: bytes,
        now: float,
        decrypt: Callable[[], bytes],
        context: Context = (),
    ) -> bytes:
        """The plaintext of ``encrypted``, calling ``decrypt`` on a miss."""
        cache_key = (key_id, context, encrypted)
        with self._decrypt_lock:
            entry = self._decryption.get(cache_key)
            if entry is not None and self._fresh(entry.created, now):
                self._decryption.move_to_end(cache_key)
                return entry.plaintext
        # Not held across KMS: opens of different keys should not queue behind each other,
        # and a rare duplicate Decrypt of the same key is harmless.
        plaintext = decrypt()
        self._remember_decrypted(key_id, encrypted, plaintext, now, context)
        return plaintext

    def _remember_decrypted(
        self, key_id: str, encrypted: bytes, plaintext: bytes, now: float, context: Context
    ) -> None:
        cache_key = (key_id, context, encrypted)
        with self._decrypt_lock:
            self._decryption[cache_key] = _DecryptionKey(plaintext=plaintext, created=now)
            self._decryption.move_to_end(cache_key)
            while len(self._decryption) > self.max_decrypted_keys:
                self._decryption.popitem(last=False)

    def clear(self) -> None:
        """Forget every cached key."""
        with self._encrypt_lock:
            self._encryption.clear()
        with self._decrypt_lock:
            self._decryption.clear()


class CardVault:
    """Seals and opens small secrets (card number, CVV) under a KMS data key."""

    def __init__(
        self,
        kms_client: KMSClient,
        key_id: str,
        cache: DataKeyCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kms = kms_client
        self._key_id = key_id
        self._cache = cache if cache is not None else DataKeyCache()
        self._clock = clock

    def __repr__(self) -> str:
        return f"CardVault(key_id={self._key_id!r})"

    def _generate_data_key(self, context: Context) -> tuple[bytes, bytes]:
        try:
            response = self._kms.generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", **_context_param(context)
            )
        except (ClientError, BotoCoreError) as exc:
            raise KeyServiceError("could not generate a data key") from exc
        return response["Plaintext"], response["CiphertextBlob"]

    def _decrypt_data_key(self, encrypted: bytes, context: Context) -> bytes:
        try:
            # KeyId pins the KMS key, so a blob whose edk came from another key is refused;
            # KMS also refuses an edk generated under another merchant's or token's context.
            response = self._kms.decrypt(
                CiphertextBlob=encrypted, KeyId=self._key_id, **_context_param(context)
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _BAD_CIPHERTEXT_CODES:
                raise CardVaultError("the sealed data could not be opened") from None
            raise KeyServiceError("could not decrypt the data key") from exc
        except BotoCoreError as exc:
            raise KeyServiceError("could not decrypt the data key") from exc
        return response["Plaintext"]

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt ``plaintext`` bound to ``aad``; returns a self-describing blob."""
        context = _context_of(aad)
        key, encrypted_key = self._cache.encryption_key(
            self._key_id, self._clock(), lambda: self._generate_data_key(context), context
        )
        if len(encrypted_key) > _MAX_EDK_BYTES:
            raise CardVaultError("the encrypted data key is too long")
        header = bytes([BLOB_VERSION]) + len(encrypted_key).to_bytes(2, "big") + encrypted_key
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(key).encrypt(nonce, bytes(plaintext), header + aad)
        return header + nonce + ciphertext

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob from :meth:`seal`; raises CardVaultError if anything was altered."""
        data = bytes(blob)
        if len(data) < _HEADER_PREFIX_BYTES or data[0] != BLOB_VERSION:
            raise CardVaultError("the sealed data could not be opened")
        edk_len = int.from_bytes(data[1:3], "big")
        header_len = _HEADER_PREFIX_BYTES + edk_len
        if edk_len == 0 or len(data) < header_len + NONCE_BYTES + TAG_BYTES:
            raise CardVaultError("the sealed data could not be opened")
        header = data[:header_len]
        encrypted_key = data[_HEADER_PREFIX_BYTES:header_len]
        nonce = data[header_len : header_len + NONCE_BYTES]
        ciphertext = data[header_len + NONCE_BYTES :]
        context = _context_of(aad)
        key = self._cache.decryption_key(
            self._key_id,
            encrypted_key,
            self._clock(),
            lambda: self._decrypt_data_key(encrypted_key, context),
            context,
        )
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, header + aad)
        except (InvalidTag, ValueError):
            raise CardVaultError("the sealed data could not be opened") from None


def _context_param(context: Context) -> dict[str, Any]:
    return {"EncryptionContext": dict(context)} if context else {}


class CardFingerprinter:
    """Per-merchant card fingerprints: equal numbers match within a merchant only.

    The fingerprint is HMAC-SHA256 of the card digits under a merchant key, as URL-safe
    base64 without padding, cut to 22 characters (132 bits). The merchant key is a KMS
    GenerateMac over a fixed label and the merchant id, fetched once and kept in memory.
    """

    def __init__(self, kms_client: KMSClient, mac_key_id: str, max_merchants: int = 10_000) -> None:
        self._kms = kms_client
        self._mac_key_id = mac_key_id
        self._max_merchants = max_merchants
        self._lock = threading.Lock()
        self._keys: OrderedDict[str, bytes] = OrderedDict()

    def __repr__(self) -> str:
        return f"CardFingerprinter(mac_key_id={self._mac_key_id!r})"

    def _merchant_key(self, merchant_id: str) -> bytes:
        # Held across the KMS call so that concurrent first requests fetch the key once.
        with self._lock:
            key = self._keys.get(merchant_id)
            if key is None:
                try:
                    response = self._kms.generate_mac(
                        KeyId=self._mac_key_id,
                        MacAlgorithm=MAC_ALGORITHM,
                        Message=_FINGERPRINT_DOMAIN + merchant_id.encode(),
                    )
                except (ClientError, BotoCoreError) as exc:
                    raise KeyServiceError("could not derive the fingerprint key") from exc
                key = response["Mac"]
                self._keys[merchant_id] = key
                # Bounded because a long-lived process could see many merchants; a key
                # evicted here is simply derived again, with the same result.
                while len(self._keys) > self._max_merchants:
                    self._keys.popitem(last=False)
            self._keys.move_to_end(merchant_id)
            return key

    def fingerprint(self, merchant_id: str, card_number: str) -> str:
        """The merchant-scoped fingerprint of a card number (spaces ignored)."""
        digits = digits_only(card_number)
        if digits is None:
            raise CardVaultError("the card number is not a 12-19 digit string")
        mac = hmac.new(self._merchant_key(merchant_id), digits.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()[:FINGERPRINT_CHARS]
