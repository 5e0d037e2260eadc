"""Card vault and fingerprints against moto's in-process KMS."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import boto3
import pytest

from chalicelib.adapters.card_vault import (
    CardFingerprinter,
    CardVault,
    CardVaultError,
    DataKeyCache,
    aad_for,
)

CARD = b"4242424242424242"
AAD = aad_for("mer_1", "tok_1", "card_number")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class SlowKms:
    """Delegates to a KMS client but sleeps first, so threads overlap inside KMS calls."""

    def __init__(self, client: Any, delay: float = 0.05) -> None:
        self._client = client
        self._delay = delay

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if not callable(target):
            return target

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._delay)
            return target(*args, **kwargs)

        return slow


@pytest.fixture
def kms(in_process_aws: None) -> Any:
    return boto3.client("kms", region_name="us-east-1")


@pytest.fixture
def calls(kms: Any) -> Counter[str]:
    """KMS operations the client has sent, by name."""
    counter: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counter[model.name] += 1

    kms.meta.events.register("before-call.kms", count)
    return counter


@pytest.fixture
def key_id(kms: Any) -> str:
    return kms.create_key(KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]


@pytest.fixture
def mac_key_id(kms: Any) -> str:
    meta = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    return meta["KeyId"]


@pytest.fixture
def vault(kms: Any, key_id: str) -> CardVault:
    return CardVault(kms, key_id)


def _flip(blob: bytes, index: int) -> bytes:
    return blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]


def _edk_len(blob: bytes) -> int:
    return int.from_bytes(blob[1:3], "big")


# --- sealing and opening ------------------------------------------------------------------


def test_round_trip(vault: CardVault) -> None:
    blob = vault.seal(CARD, AAD)
    assert vault.open(blob, AAD) == CARD


def test_round_trip_from_a_cold_instance(kms: Any, key_id: str) -> None:
    blob = CardVault(kms, key_id).seal(CARD, AAD)
    assert CardVault(kms, key_id).open(blob, AAD) == CARD


def test_blob_layout(vault: CardVault) -> None:
    blob = vault.seal(CARD, AAD)
    edk_len = _edk_len(blob)
    assert blob[0] == 1
    assert edk_len > 0
    # version + length + edk + nonce + ciphertext + tag
    assert len(blob) == 3 + edk_len + 12 + len(CARD) + 16


def test_blob_does_not_contain_the_plaintext(vault: CardVault) -> None:
    blob = vault.seal(CARD, AAD)
    assert CARD not in blob
    assert CARD[-4:] * 2 not in blob
    assert CARD.hex().encode() not in blob


def test_nonce_is_fresh_per_seal(vault: CardVault) -> None:
    first, second = vault.seal(CARD, AAD), vault.seal(CARD, AAD)
    assert first != second
    start = 3 + _edk_len(first)
    assert first[start : start + 12] != second[start : start + 12]


def test_wrong_aad_fails(vault: CardVault) -> None:
    blob = vault.seal(CARD, AAD)
    with pytest.raises(CardVaultError):
        vault.open(blob, b"something else")


@pytest.mark.parametrize(
    "other",
    [
        aad_for("mer_1", "tok_2", "card_number"),
        aad_for("mer_2", "tok_1", "card_number"),
        aad_for("mer_1", "tok_1", "cvv"),
    ],
)
def test_ciphertext_cannot_move_to_another_record_or_field(vault: CardVault, other: bytes) -> None:
    blob = vault.seal(CARD, AAD)
    with pytest.raises(CardVaultError):
        vault.open(blob, other)


@pytest.mark.parametrize("where", ["ciphertext", "tag", "nonce", "edk_start", "edk_end"])
def test_flipped_byte_fails(vault: CardVault, where: str) -> None:
    blob = vault.seal(CARD, AAD)
    edk_end = 3 + _edk_len(blob)
    index = {
        "edk_start": 3,
        "edk_end": edk_end - 1,
        "nonce": edk_end + 5,
        "ciphertext": edk_end + 12 + 2,
        "tag": len(blob) - 1,
    }[where]
    with pytest.raises(CardVaultError) as info:
        vault.open(_flip(blob, index), AAD)
    assert "4242" not in str(info.value)
    assert "4242" not in repr(info.value)


@pytest.mark.parametrize("where", ["version", "length"])
def test_damaged_header_fails(vault: CardVault, where: str) -> None:
    blob = vault.seal(CARD, AAD)
    with pytest.raises(CardVaultError):
        vault.open(_flip(blob, 0 if where == "version" else 2), AAD)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01\x00\x00" + bytes(40), b"\x02" + bytes(80)])
def test_garbage_fails(vault: CardVault, blob: bytes) -> None:
    with pytest.raises(CardVaultError):
        vault.open(blob, AAD)


def test_truncated_blob_fails(vault: CardVault) -> None:
    blob = vault.seal(CARD, AAD)
    with pytest.raises(CardVaultError):
        vault.open(blob[:-1], AAD)


def test_blob_from_another_kms_key_is_refused(kms: Any, vault: CardVault) -> None:
    other_key = kms.create_key(KeySpec="SYMMETRIC_DEFAULT")["KeyMetadata"]["KeyId"]
    blob = CardVault(kms, other_key).seal(CARD, AAD)
    with pytest.raises(CardVaultError):
        vault.open(blob, AAD)


def test_reprs_hold_no_key_material(vault: CardVault) -> None:
    cache = DataKeyCache()
    CardVault(vault._kms, vault._key_id, cache=cache).seal(CARD, AAD)
    assert "Plaintext" not in repr(cache)
    assert repr(cache).startswith("DataKeyCache(")
    assert repr(vault).startswith("CardVault(")


def test_aad_for_refuses_separator() -> None:
    assert aad_for("mer_x", "tok_y", "card_number") == b"v1|mer_x|tok_y|card_number"
    with pytest.raises(ValueError):
        aad_for("mer|x", "tok_y", "cvv")


# --- KMS call counts and cache limits -----------------------------------------------------


def test_warm_cache_costs_one_generate_per_token_and_no_decrypt(
    vault: CardVault, calls: Counter[str]
) -> None:
    # A data key is bound to its encryption context (merchant and token), so tokens
    # cannot share one; the fields of one token do.
    fields = ("card_number", "cvv", "holder")
    blobs = {
        (i, f): vault.seal(CARD, aad_for("mer_1", f"tok_{i}", f)) for i in range(20) for f in fields
    }
    assert calls["GenerateDataKey"] == 20
    for (i, f), blob in blobs.items():
        assert vault.open(blob, aad_for("mer_1", f"tok_{i}", f)) == CARD
    assert calls["Decrypt"] == 0


@pytest.fixture
def sent(kms: Any) -> list[tuple[str, dict[str, Any]]]:
    """(operation, parameters) of every KMS call the client sends."""
    log: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        log.append((model.name, dict(params)))

    kms.meta.events.register("provide-client-params.kms", record)
    return log


def test_kms_calls_carry_the_merchant_and_token_context(
    kms: Any, key_id: str, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    blob = CardVault(kms, key_id).seal(CARD, aad_for("mer_1", "tok_1", "card_number"))
    CardVault(kms, key_id).open(blob, aad_for("mer_1", "tok_1", "card_number"))
    expected = {"merchant_id": "mer_1", "token_id": "tok_1"}
    assert [(op, p.get("EncryptionContext")) for op, p in sent] == [
        ("GenerateDataKey", expected),
        ("Decrypt", expected),
    ]


def test_kms_refuses_the_data_key_under_another_context(kms: Any, key_id: str) -> None:
    blob = CardVault(kms, key_id).seal(CARD, aad_for("mer_1", "tok_1", "card_number"))
    edk = blob[3 : 3 + _edk_len(blob)]
    # KMS itself (not only the GCM tag) refuses the key for another token or merchant.
    for other in (
        {"merchant_id": "mer_1", "token_id": "tok_2"},
        {"merchant_id": "mer_2", "token_id": "tok_1"},
    ):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=edk, KeyId=key_id, EncryptionContext=other)
    with pytest.raises(CardVaultError):
        CardVault(kms, key_id).open(blob, aad_for("mer_1", "tok_2", "card_number"))


def test_plain_bytes_aad_sends_no_context(
    vault: CardVault, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    vault.seal(CARD, b"plain")
    assert [op for op, _ in sent] == ["GenerateDataKey"]
    assert "EncryptionContext" not in sent[0][1]


def test_encryption_keys_are_lru_bounded(kms: Any, key_id: str, calls: Counter[str]) -> None:
    vault = CardVault(kms, key_id, cache=DataKeyCache(max_encryption_keys=2))
    for token in ("tok_1", "tok_2", "tok_1", "tok_3", "tok_2"):
        vault.seal(CARD, aad_for("mer_1", token, "cvv"))
    # tok_1 was refreshed before tok_3 came in, so only tok_2 had been evicted.
    assert calls["GenerateDataKey"] == 4


def test_cold_instance_opens_many_tokens_with_one_decrypt(
    kms: Any, key_id: str, calls: Counter[str]
) -> None:
    blobs = [CardVault(kms, key_id).seal(CARD, AAD)]
    sealer = CardVault(kms, key_id)
    blobs += [sealer.seal(CARD, AAD) for _ in range(50)]
    opener = CardVault(kms, key_id)
    for blob in blobs[1:]:
        assert opener.open(blob, AAD) == CARD
    assert calls["Decrypt"] == 1
    opener.open(blobs[0], AAD)  # sealed under a different data key
    assert calls["Decrypt"] == 2


def test_encryption_key_retires_after_max_uses(kms: Any, key_id: str, calls: Counter[str]) -> None:
    vault = CardVault(kms, key_id, cache=DataKeyCache(max_uses=3))
    blobs = [vault.seal(CARD, AAD) for _ in range(7)]
    assert calls["GenerateDataKey"] == 3  # uses 1-3, 4-6, 7
    edks = [blob[3 : 3 + _edk_len(blob)] for blob in blobs]
    assert len(set(edks[:3])) == 1
    assert edks[2] != edks[3]
    assert all(vault.open(blob, AAD) == CARD for blob in blobs)


def test_encryption_key_retires_after_max_age(kms: Any, key_id: str, calls: Counter[str]) -> None:
    clock = FakeClock()
    vault = CardVault(kms, key_id, cache=DataKeyCache(max_age_seconds=60), clock=clock)
    vault.seal(CARD, AAD)
    clock.now += 59.9
    vault.seal(CARD, AAD)
    assert calls["GenerateDataKey"] == 1
    clock.now += 0.1
    vault.seal(CARD, AAD)
    assert calls["GenerateDataKey"] == 2


def test_decrypted_key_expires_by_age(kms: Any, key_id: str, calls: Counter[str]) -> None:
    blob = CardVault(kms, key_id).seal(CARD, AAD)
    clock = FakeClock()
    opener = CardVault(kms, key_id, cache=DataKeyCache(max_age_seconds=60), clock=clock)
    opener.open(blob, AAD)
    clock.now += 30
    opener.open(blob, AAD)
    assert calls["Decrypt"] == 1
    clock.now += 31
    opener.open(blob, AAD)
    assert calls["Decrypt"] == 2


def test_decrypted_keys_are_lru_bounded(kms: Any, key_id: str, calls: Counter[str]) -> None:
    blobs = [CardVault(kms, key_id).seal(CARD, AAD) for _ in range(3)]
    opener = CardVault(kms, key_id, cache=DataKeyCache(max_decrypted_keys=2))
    opener.open(blobs[0], AAD)
    opener.open(blobs[1], AAD)
    opener.open(blobs[0], AAD)  # blobs[0] is now the most recent
    assert calls["Decrypt"] == 2
    opener.open(blobs[2], AAD)  # evicts blobs[1]
    opener.open(blobs[0], AAD)
    assert calls["Decrypt"] == 3
    opener.open(blobs[1], AAD)
    assert calls["Decrypt"] == 4


def test_concurrent_seals_share_one_data_key(kms: Any, key_id: str, calls: Counter[str]) -> None:
    vault = CardVault(SlowKms(kms), key_id)
    barrier = threading.Barrier(8)
    blobs: list[bytes] = []

    def work() -> None:
        barrier.wait()
        blobs.extend(vault.seal(CARD, AAD) for _ in range(10))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(blobs) == 80
    assert calls["GenerateDataKey"] == 1


def test_max_uses_is_exact_under_concurrency(kms: Any, key_id: str) -> None:
    vault = CardVault(SlowKms(kms, delay=0.01), key_id, cache=DataKeyCache(max_uses=5))
    blobs: list[bytes] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(5):
            blob = vault.seal(CARD, AAD)
            with lock:
                blobs.append(blob)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_key = Counter(blob[3 : 3 + _edk_len(blob)] for blob in blobs)
    assert sum(per_key.values()) == 30
    assert max(per_key.values()) <= 5


# --- fingerprints -------------------------------------------------------------------------


def test_moto_generate_mac_is_deterministic(kms: Any, mac_key_id: str) -> None:
    def mac() -> bytes:
        return kms.generate_mac(KeyId=mac_key_id, MacAlgorithm="HMAC_SHA_256", Message=b"m")["Mac"]

    assert mac() == mac()
    assert len(mac()) == 32


def test_fingerprint_equal_within_a_merchant(kms: Any, mac_key_id: str) -> None:
    fingerprinter = CardFingerprinter(kms, mac_key_id)
    first = fingerprinter.fingerprint("mer_1", "4242424242424242")
    assert first == fingerprinter.fingerprint("mer_1", "4242 4242 4242 4242")
    assert first == CardFingerprinter(kms, mac_key_id).fingerprint("mer_1", "4242424242424242")
    assert len(first) == 22
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "4242" not in first


def test_fingerprint_differs_between_cards_and_merchants(kms: Any, mac_key_id: str) -> None:
    fingerprinter = CardFingerprinter(kms, mac_key_id)
    assert fingerprinter.fingerprint("mer_1", "4242424242424242") != fingerprinter.fingerprint(
        "mer_1", "5555555555554444"
    )
    assert fingerprinter.fingerprint("mer_1", "4242424242424242") != fingerprinter.fingerprint(
        "mer_2", "4242424242424242"
    )


def test_merchant_key_is_fetched_once(kms: Any, mac_key_id: str, calls: Counter[str]) -> None:
    fingerprinter = CardFingerprinter(kms, mac_key_id)
    for number in ("4242424242424242", "5555555555554444", "378282246310005"):
        fingerprinter.fingerprint("mer_1", number)
        fingerprinter.fingerprint("mer_1", number)
    assert calls["GenerateMac"] == 1
    fingerprinter.fingerprint("mer_2", "4242424242424242")
    assert calls["GenerateMac"] == 2


def test_merchant_key_is_fetched_once_under_concurrency(
    kms: Any, mac_key_id: str, calls: Counter[str]
) -> None:
    fingerprinter = CardFingerprinter(SlowKms(kms), mac_key_id)
    barrier = threading.Barrier(8)
    results: list[str] = []

    def work() -> None:
        barrier.wait()
        results.append(fingerprinter.fingerprint("mer_1", "4242424242424242"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1
    assert calls["GenerateMac"] == 1


def test_fingerprint_refuses_non_numbers_without_echoing(kms: Any, mac_key_id: str) -> None:
    with pytest.raises(CardVaultError) as info:
        CardFingerprinter(kms, mac_key_id).fingerprint("mer_1", "4242-4242-4242-4242")
    assert "4242" not in str(info.value)
