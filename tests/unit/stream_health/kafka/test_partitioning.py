"""The relay's partitioning is Kafka's default partitioner, bit for bit."""

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference
from hypothesis import given
from hypothesis import strategies as st

from stream_health.kafka.partitioning import murmur2, partition_for


@given(data=st.binary(max_size=200))
def test_murmur2_is_the_kafka_clients_murmur2(data: bytes) -> None:
    assert murmur2(data) == reference(data)


@given(key=st.uuids().map(lambda u: str(u).encode()), count=st.integers(1, 64))
def test_a_key_goes_where_the_default_partitioner_sends_it(key: bytes, count: int) -> None:
    partitions = list(range(count))

    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_known_keys_land_on_the_partitions_java_clients_pick() -> None:
    # Values from Kafka's own tests of Utils.murmur2 (UtilsTest.testMurmur2).
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"") == 275646681
