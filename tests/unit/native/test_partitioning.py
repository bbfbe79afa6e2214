"""The compiled murmur2 and partition choice against the Python model (itself aiokafka's)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_health.kafka.partitioning import murmur2 as model
from stream_health_core import murmur2, partition_index


@given(data=st.binary(max_size=300))
def test_the_compiled_murmur2_is_the_model_s(data: bytes) -> None:
    assert murmur2(data) == model(data)


@given(key=st.binary(max_size=80), count=st.integers(1, 1_000))
def test_the_partition_is_the_model_s_hash_masked_modulo_the_count(key: bytes, count: int) -> None:
    assert partition_index(key, count) == (model(key) & 0x7FFFFFFF) % count


def test_no_partitions_is_an_error_not_a_division_by_zero() -> None:
    with pytest.raises(ValueError, match="no partitions"):
        partition_index(b"k", 0)
