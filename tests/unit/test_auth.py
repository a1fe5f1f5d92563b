from tagpulse.grpc_interceptors import TokenCheck, mutating_methods
from tagpulse.v1 import collector_service_pb2, query_service_pb2

SERVICES = [
    query_service_pb2.DESCRIPTOR.services_by_name["QueryService"],
    collector_service_pb2.DESCRIPTOR.services_by_name["CollectorService"],
]


def test_the_contract_says_which_calls_change_data() -> None:
    assert mutating_methods(SERVICES) == {
        "/tagpulse.v1.QueryService/InvalidateAggregates",
        "/tagpulse.v1.CollectorService/StartCollection",
        # It reads no posts, but its counts requests cost money.
        "/tagpulse.v1.CollectorService/EstimateCollection",
        "/tagpulse.v1.CollectorService/DeletePosts",
        "/tagpulse.v1.CollectorService/CreateStream",
        "/tagpulse.v1.CollectorService/DeleteStream",
    }


def test_token_checks() -> None:
    auth = TokenCheck(frozenset(), "s3cret")
    assert auth.problem([("authorization", "Bearer s3cret")]) is None
    assert auth.problem([("authorization", "bearer s3cret")]) is None
    assert auth.problem([("authorization", "Bearer wrong")]) == "the API token is wrong"
    assert auth.problem([("authorization", "Basic s3cret")]) == "the API token is wrong"
    assert auth.problem([("authorization", "Bearer s3cret-and-more")]) == "the API token is wrong"
    assert "send 'authorization: Bearer" in str(auth.problem([]))
    assert "no API token" in str(TokenCheck(frozenset(), None).problem([("authorization", "Bearer x")]))
