import pytest

from stream_health_worker.schemas.errors import Rejected, guarded


def _broken(value: bytes) -> str:
    raise ValueError(f"cannot read {value!r}")


def _refusing(value: bytes) -> str:
    raise Rejected("seq: Input should be greater than or equal to 0")


def test_a_parser_bug_rejects_the_record_without_its_content() -> None:
    with pytest.raises(Rejected) as rejected:
        guarded(_broken, b"rtsp://user:secret@host")

    assert rejected.value.reason == "value: could not be read (ValueError)"


def test_a_rejection_passes_through_with_its_reason() -> None:
    with pytest.raises(Rejected) as rejected:
        guarded(_refusing, b"{}")

    assert rejected.value.reason.startswith("seq: ")


def test_a_parser_that_succeeds_returns_its_result() -> None:
    assert guarded(bytes.decode, b"ok") == "ok"
